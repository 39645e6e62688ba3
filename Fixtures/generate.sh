#!/usr/bin/env bash
# Regenerates every test fixture from scratch.
#
# Usage: generate.sh [OUTDIR]          (default OUTDIR: <this directory>/generated)
#
#   OUTDIR/real/       archives written by real producers (real-producers.sh: umoci + skopeo)
#   OUTDIR/handmade/   reproducible hand-crafted archives (handmade.py) + expectations.json
#   OUTDIR/.stamp      written last: sha256 of the generator sources, i.e. the output of
#                        cat generate.sh real-producers.sh handmade.py | sha256sum
#                      (run in this directory). If it matches, the fixtures are up to date.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="${1:-$HERE/generated}"
SOURCES=(generate.sh real-producers.sh handmade.py)

die() { echo "generate.sh: $*" >&2; exit 1; }

# require COMMAND DEBIAN-PACKAGE
require() { command -v "$1" >/dev/null || die "'$1' not found; install it with: apt-get install $2"; }
[[ $EUID -eq 0 ]] || die "must run as root (umoci unpack/repack and chown 1234:5678 need it)"
require python3 python3
require umoci umoci
require skopeo skopeo
require zstd zstd
require tar tar
require sha256sum coreutils
[[ -x /bin/busybox ]] || die "/bin/busybox not found; install it with: apt-get install busybox-static"
# The images run busybox from an otherwise empty rootfs: it must be a static x86-64 ELF
# (no PT_INTERP program header), which the Debian `busybox` package does not provide.
python3 - /bin/busybox <<'EOF' || die "/bin/busybox is not a static x86-64 binary; apt-get install busybox-static"
import struct, sys
elf = open(sys.argv[1], "rb").read(65536)
if elf[:5] != b"\x7fELF\x02" or struct.unpack_from("<H", elf, 0x12)[0] != 0x3E:
    sys.exit(1)
phoff, = struct.unpack_from("<Q", elf, 0x20)
phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
PT_INTERP = 3
sys.exit(any(struct.unpack_from("<I", elf, phoff + i * phentsize)[0] == PT_INTERP for i in range(phnum)))
EOF

mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
# Refuse to wipe a directory that is not a previous output (guards against a mistyped OUTDIR).
if [[ -n "$(ls -A "$OUT")" && ! -e "$OUT/.stamp" && ! -d "$OUT/real" && ! -d "$OUT/handmade" ]]; then
    die "refusing to empty $OUT: it is not empty and holds no previous fixtures"
fi
find "$OUT" -mindepth 1 -delete

start=$SECONDS
bash "$HERE/real-producers.sh" "$OUT"
python3 "$HERE/handmade.py" "$OUT"
(cd "$HERE" && cat "${SOURCES[@]}") | sha256sum | cut -d' ' -f1 >"$OUT/.stamp.tmp"
mv "$OUT/.stamp.tmp" "$OUT/.stamp"
echo "generate.sh: fixtures written to $OUT in $((SECONDS - start))s"
