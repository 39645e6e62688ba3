#!/usr/bin/env bash
# Builds the sample image with REAL producers and writes the archives into OUTDIR/real/.
#
#   umoci  -> an OCI image layout (the "source" image, tag `sample`)
#   skopeo -> oci-archive (gzip / zstd / uncompressed layers) and docker-archive files
#
# Usage: real-producers.sh OUTDIR        (normally called by generate.sh)
#
# Image (4 layers, 0-based; see README.md for the full listing):
#   0  umoci repack: /bin/busybox + symlinks sh, echo, cat, ls -> busybox
#   1  umoci repack: /etc/hello.txt and /data/* (long name, non-ASCII name, setuid,
#      uid/gid 1234/5678, hardlink, relative + absolute symlink, b.txt, opaque/old.txt)
#   2  umoci repack after `rm /data/b.txt`: umoci writes the whiteout data/.wh.b.txt itself
#   3  GNU tar layer added with `umoci raw add-layer`: data/opaque/.wh..wh..opq + new.txt.
#      Not `umoci insert --opaque`: umoci 0.4.7 never closes the tar writer on insert, so the
#      layer lacks the tar end-of-archive blocks (umoci#436, fixed by umoci PR #534).
#
# Must run as root (umoci unpack/repack without --rootless, chown 1234:5678).
# umoci's gzip output, tar headers and JSON are deterministic once all mtimes and `created`
# fields are pinned, so the OCI layout and skopeo's docker-archive files are reproducible.
# skopeo's oci-archive files are not: it stamps the current time on the outer tar entries.
set -euo pipefail

[[ $# -eq 1 ]] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
OUT="$1/real"
mkdir -p "$OUT"

# Fixed time for every mtime and `created` field: 2024-01-01T00:00:00Z.
EPOCH=1704067200
CREATED=2024-01-01T00:00:00Z
LONG_NAME=this-file-name-is-deliberately-longer-than-one-hundred-bytes-so-ustar-needs-a-pax-or-gnu-long-name.txt

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
LAYOUT="$WORK/oci"
BUNDLE="$WORK/bundle"
ROOTFS="$BUNDLE/rootfs"
IMG="$LAYOUT:sample"

# Pins every mtime under $1 (without following symlinks) to the fixed epoch.
pin_mtimes() { find "$1" -exec touch -h -d "@$EPOCH" {} +; }

# Commits the bundle's changes as a new layer with a fixed history entry.
repack() {
    pin_mtimes "$ROOTFS"
    umoci repack --refresh-bundle --image "$IMG" \
        --history.created "$CREATED" --history.created_by "$1" "$BUNDLE"
}

umoci init --layout "$LAYOUT"
umoci new --image "$IMG"
umoci config --image "$IMG" --no-history --created "$CREATED" \
    --os linux --architecture amd64 \
    --config.cmd /bin/cat --config.cmd /etc/hello.txt
umoci unpack --image "$IMG" "$BUNDLE"

# Layer 0: busybox
mkdir -p "$ROOTFS/bin"
install -m 0755 /bin/busybox "$ROOTFS/bin/busybox"
for applet in sh echo cat ls; do ln -s busybox "$ROOTFS/bin/$applet"; done
repack "layer 0: busybox"

# Layer 1: content
mkdir -p "$ROOTFS/etc" "$ROOTFS/data/opaque"
printf 'hello from kind-node-import\n' >"$ROOTFS/etc/hello.txt"
printf 'a\n' >"$ROOTFS/data/a.txt"
printf 'b\n' >"$ROOTFS/data/b.txt"
printf 'long name\n' >"$ROOTFS/data/$LONG_NAME"
printf 'unicode\n' >"$ROOTFS/data/ünïcødé.txt"
printf '#!/bin/sh\necho setuid\n' >"$ROOTFS/data/setuid"
chmod 04755 "$ROOTFS/data/setuid"
printf 'owned\n' >"$ROOTFS/data/owned.txt"
chown 1234:5678 "$ROOTFS/data/owned.txt"
ln "$ROOTFS/data/a.txt" "$ROOTFS/data/hard"
ln -s a.txt "$ROOTFS/data/rel-link"
ln -s /etc/hello.txt "$ROOTFS/data/abs-link"
printf 'old\n' >"$ROOTFS/data/opaque/old.txt"
repack "layer 1: content"

# Layer 2: delete /data/b.txt; umoci emits the whiteout entry.
rm "$ROOTFS/data/b.txt"
repack "layer 2: delete /data/b.txt"

# Layer 3: opaque /data/opaque with a new file, as an uncompressed GNU tar layer.
STAGE="$WORK/layer3"
mkdir -p "$STAGE/data/opaque"
: >"$STAGE/data/opaque/.wh..wh..opq"
printf 'new\n' >"$STAGE/data/opaque/new.txt"
tar -C "$STAGE" --sort=name --mtime="@$EPOCH" --owner=0 --group=0 --numeric-owner \
    --format=gnu --no-recursion -cf "$WORK/layer3.tar" \
    data/opaque data/opaque/.wh..wh..opq data/opaque/new.txt
umoci raw add-layer --image "$IMG" \
    --history.created "$CREATED" --history.created_by "layer 3: opaque /data/opaque" "$WORK/layer3.tar"

umoci gc --layout "$LAYOUT"

# skopeo needs a signature policy; accept anything (everything here is local).
SK=(skopeo --insecure-policy copy --quiet)
SRC="oci:$IMG"

"${SK[@]}" "$SRC" "oci-archive:$OUT/oci-gzip.tar:kni/sample:gzip"
"${SK[@]}" --dest-compress-format zstd "$SRC" "oci-archive:$OUT/oci-zstd.tar:kni/sample:zstd"
# --dest-decompress only applies to the dir: transport, so decompress into dir: first, then
# let the OCI writer keep the layers uncompressed.
"${SK[@]}" --dest-decompress "$SRC" "dir:$WORK/uncompressed"
"${SK[@]}" --dest-oci-accept-uncompressed-layers \
    "dir:$WORK/uncompressed" "oci-archive:$OUT/oci-uncompressed.tar:kni/sample:uncompressed"
"${SK[@]}" "$SRC" "docker-archive:$OUT/docker-archive.tar:kni/sample:v1"
# skopeo cannot append a second image to an existing docker-archive (each copy rewrites the
# file), so the "two images" archive is one image under two tags.
"${SK[@]}" --additional-tag kni/sample:v2 \
    "$SRC" "docker-archive:$OUT/docker-archive-two-images.tar:kni/sample:v1"

# umoci's layout itself, tarred the way people tar a directory: names start with "./" and
# the ref.name annotation is only the tag ("sample").
tar -C "$LAYOUT" --sort=name --mtime="@$EPOCH" --owner=0 --group=0 --numeric-owner \
    -cf "$OUT/umoci-layout.tar" .

# Fail if skopeo did not do what was asked: layer media types and the bytes behind them.
python3 - "$OUT" <<'EOF'
import json, sys, tarfile
LAYER = "application/vnd.oci.image.layer.v1.tar"
for name, suffix, magic in (("oci-gzip.tar", "+gzip", b"\x1f\x8b"),
                            ("oci-zstd.tar", "+zstd", b"\x28\xb5\x2f\xfd"),
                            ("oci-uncompressed.tar", "", None)):
    with tarfile.open(f"{sys.argv[1]}/{name}") as tf:
        def read(path):
            return tf.extractfile(path).read()
        index = json.loads(read("index.json"))
        manifest = json.loads(read("blobs/sha256/" + index["manifests"][0]["digest"][7:]))
        for layer in manifest["layers"]:
            blob = read("blobs/sha256/" + layer["digest"][7:])
            ok = layer["mediaType"] == LAYER + suffix and (
                blob.startswith(magic) if magic else blob[257:262] == b"ustar")
            if not ok:
                sys.exit(f"real-producers.sh: {name}: layer {layer['digest']} is not {LAYER + suffix}")
EOF
