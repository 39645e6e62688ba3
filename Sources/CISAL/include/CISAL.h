// ISA-L's igzip inflate and CRC-32 (Debian's libisal-dev), for Compression/IsalGzip.swift only.
// Nothing needs a shim: the header is imported as it is. Linked statically into the node binary
// from libisal.a, which scripts/build-isal builds from Debian's source package.
#ifndef CISAL_H
#define CISAL_H

#include <isa-l/crc.h>
#include <isa-l/igzip_lib.h>

#endif
