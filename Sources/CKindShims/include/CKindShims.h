// Thin C shims for what Swift cannot call directly. Every function is prefixed `kni_`.
// zlib and libzstd are each used by exactly one Swift file (Compression/Gzip.swift, Zstd.swift).
#ifndef CKINDSHIMS_H
#define CKINDSHIMS_H

#include <zlib.h>
#include <zstd.h>

/// `inflateInit2` is a macro in zlib.h; windowBits 15+16 selects gzip framing.
static inline int kni_inflate_init_gzip(z_stream *stream) {
    return inflateInit2(stream, 15 + 16);
}

#endif
