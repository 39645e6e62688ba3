#!/usr/bin/env python3
"""Hand-crafted image archives for kind-node-import's tests.

Usage: handmade.py OUTDIR
Writes OUTDIR/handmade/<fixture>.tar for every fixture below, plus
OUTDIR/handmade/expectations.json (per file: the verdict a verifier must reach and the exact
indexes/digests involved). README.md describes each fixture.

Only the standard library is used (plus the `zstd` CLI for zstd layers). Output is byte-for-byte
reproducible: fixed mtimes, uid/gid/uname/gname, deterministic entry order, gzip with mtime 0,
compact JSON, and pseudo-random bytes derived from sha256 of fixed labels.

Every image is named kni/<fixture>:v1. The base image has three layers (0-based indexes):
  0  /bin/busybox (static, 0755) + symlinks cat, echo, ls, sh -> busybox
  1  /etc/hello.txt and /data/* (long name, non-ASCII name, setuid, uid/gid 1234/5678,
     hardlink, relative and absolute symlinks, /data/b.txt, /data/opaque/old.txt)
  2  whiteout data/.wh.b.txt, opaque marker data/opaque/.wh..wh..opq, data/opaque/new.txt
Fixtures about tar entries add a fourth layer (index 3) holding the entries under test.
"""
import functools
import gzip
import hashlib
import io
import json
import subprocess
import sys
import tarfile
import zlib
from pathlib import Path
from typing import NamedTuple

EPOCH = 1704067200  # 2024-01-01T00:00:00Z: mtime of every tar entry
CREATED = "2024-01-01T00:00:00Z"
BUSYBOX = Path("/bin/busybox")
CMD = ["/bin/cat", "/etc/hello.txt"]
LONG_NAME = ("this-file-name-is-deliberately-longer-than-one-hundred-bytes"
             "-so-ustar-needs-a-pax-or-gnu-long-name.txt")
# Components of the 150-character paths "gnu/<LONG_DIR>/<LONG_FILE>" and "pax/<LONG_DIR>/<LONG_FILE>".
LONG_DIR = "d" * 70
LONG_FILE = "f" * 75

OCI_LAYOUT = b'{"imageLayoutVersion":"1.0.0"}'
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER_MEDIA_TYPES = {
    "none": "application/vnd.oci.image.layer.v1.tar",
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
}
REF_NAME = "org.opencontainers.image.ref.name"
CONTAINERD_NAME = "io.containerd.image.name"
OVERSIZED_JSON_BYTES = 20 * 1024 * 1024


# ---------------------------------------------------------------------------- primitives

def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def digest(data: bytes) -> str:
    return "sha256:" + sha256_hex(data)


def dumps(obj) -> bytes:
    """Compact JSON, as Go's encoding/json writes it (key order = insertion order)."""
    return json.dumps(obj, separators=(",", ":")).encode()


def pseudo_random(label: str, size: int) -> bytes:
    """Reproducible 'random' bytes: sha256(label || counter) blocks."""
    blocks = (hashlib.sha256(f"{label}/{i}".encode()).digest() for i in range(size // 32 + 1))
    return b"".join(blocks)[:size]


def fake_digest(label: str) -> str:
    """A well-formed sha256 digest that matches no content in any fixture."""
    return "sha256:" + pseudo_random(label, 32).hex()


def descriptor(media_type: str, data: bytes, **extra) -> dict:
    return {"mediaType": media_type, "digest": digest(data), "size": len(data), **extra}


def blob_path(dgst: str) -> str:
    return "blobs/sha256/" + dgst.removeprefix("sha256:")


# ---------------------------------------------------------------------------- tar writing

def _info(name: str, type_: bytes, mode: int, uid: int = 0, gid: int = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.uid, info.gid, info.mtime = type_, mode, uid, gid, EPOCH
    return info


def reg(name, data, mode=0o644, uid=0, gid=0, pax=None):
    info = _info(name, tarfile.REGTYPE, mode, uid, gid)
    info.size = len(data)
    if pax:
        info.pax_headers = pax
    return info, data


def dir_(name, mode=0o755):
    return _info(name, tarfile.DIRTYPE, mode), b""  # tarfile appends the trailing "/"


def sym(name, target):
    info = _info(name, tarfile.SYMTYPE, 0o777)
    info.linkname = target
    return info, b""


def hard(name, target):
    info = _info(name, tarfile.LNKTYPE, 0o644)
    info.linkname = target
    return info, b""


def make_tar(members, fmt=tarfile.PAX_FORMAT, global_pax=None) -> bytes:
    """Tar bytes for (TarInfo, data) members, in the given order.

    Like Go's archive/tar (Docker, containerd, skopeo) the archive ends right after the two
    zero end-of-archive blocks; tarfile's padding to a 10 KiB record is dropped.
    A non-empty global_pax writes a pax global header ('g') first.
    """
    buf = io.BytesIO()
    tf = tarfile.open(fileobj=buf, mode="w", format=fmt, encoding="utf-8",
                      pax_headers=global_pax or {})
    for info, data in members:
        tf.addfile(info, io.BytesIO(data))
    end = tf.offset
    tf.close()
    return buf.getvalue()[:end + 2 * tarfile.BLOCKSIZE]


def gnu_sparse_member(name: str, real_size: int, chunks) -> bytes:
    """One old-GNU sparse member (typeflag 'S', sparse map in the header, at most 4 chunks).

    tarfile reads sparse members but cannot write them, so the header is patched by hand.
    chunks: [(offset, data)]; the stored data is the chunks concatenated.
    """
    assert len(chunks) <= 4
    data = b"".join(chunk for _, chunk in chunks)
    info = _info(name, tarfile.GNUTYPE_SPARSE, 0o644)
    info.size = len(data)
    header = bytearray(info.tobuf(tarfile.GNU_FORMAT, "utf-8", "strict"))
    assert len(header) == tarfile.BLOCKSIZE

    def octal(n):
        return b"%011o\0" % n

    # GNU header extension: sparse[4] {offset[12], numbytes[12]} at 386, isextended at 482,
    # realsize[12] at 483.
    for i, (offset, chunk) in enumerate(chunks):
        header[386 + 24 * i:410 + 24 * i] = octal(offset) + octal(len(chunk))
    header[483:495] = octal(real_size)
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\0 " % sum(header)
    padding = b"\0" * (-len(data) % tarfile.BLOCKSIZE)
    return bytes(header) + data + padding


# ---------------------------------------------------------------------------- layers

_compressed: dict = {}


def compress(data: bytes, how: str) -> bytes:
    """Compressed bytes, cached (busybox makes a layer ~2 MB; zstd -19 is slow)."""
    key = (digest(data), how)
    if key not in _compressed:
        if how == "none":
            out = data
        elif how == "gzip":
            out = gzip.compress(data, compresslevel=9, mtime=0)
        elif how == "zstd":
            out = subprocess.run(["zstd", "-q", "-c", "-19", "-T1", "--no-progress"], input=data,
                                 stdout=subprocess.PIPE, check=True).stdout
        else:
            raise ValueError(how)
        _compressed[key] = out
    return _compressed[key]


class Layer:
    """An uncompressed layer tar and the (possibly compressed) blob shipped for it."""

    def __init__(self, tar: bytes, compression: str):
        self.tar = tar
        self.diff_id = digest(tar)
        self.blob = compress(tar, compression)
        self.media_type = LAYER_MEDIA_TYPES[compression]

    def descriptor(self) -> dict:
        return descriptor(self.media_type, self.blob)


@functools.cache
def base_tars():
    """The three layer tars of the base image (PAX format, like Go's archive/tar)."""
    layer0 = [dir_("bin"), reg("bin/busybox", BUSYBOX.read_bytes(), 0o755)]
    layer0 += [sym(f"bin/{applet}", "busybox") for applet in ("cat", "echo", "ls", "sh")]
    layer1 = [
        dir_("data"),
        reg("data/a.txt", b"a\n"),
        sym("data/abs-link", "/etc/hello.txt"),
        reg("data/b.txt", b"b\n"),
        hard("data/hard", "data/a.txt"),
        dir_("data/opaque"),
        reg("data/opaque/old.txt", b"old\n"),
        reg("data/owned.txt", b"owned\n", uid=1234, gid=5678),
        sym("data/rel-link", "a.txt"),
        reg("data/setuid", b"#!/bin/sh\necho setuid\n", mode=0o4755),
        reg(f"data/{LONG_NAME}", b"long name\n"),
        reg("data/ünïcødé.txt", b"unicode\n"),
        dir_("etc"),
        reg("etc/hello.txt", b"hello from kind-node-import\n"),
    ]
    layer2 = [
        dir_("data"),
        reg("data/.wh.b.txt", b""),
        dir_("data/opaque"),
        reg("data/opaque/.wh..wh..opq", b""),
        reg("data/opaque/new.txt", b"new\n"),
    ]
    return make_tar(layer0), make_tar(layer1), make_tar(layer2)


def base_layers(*compressions: str) -> list:
    """The base image's layers; one compression for all, or one per layer."""
    if len(compressions) == 1:
        compressions *= 3
    return [Layer(tar, how) for tar, how in zip(base_tars(), compressions)]


# ---------------------------------------------------------------------------- images

def ref(fixture: str, tag: str = "v1") -> str:
    return f"kni/{fixture}:{tag}"


class Image:
    """Layers plus the config and OCI manifest describing them.

    Fixtures inject defects by changing the public fields before an archive is written:
    config (dict), config_blob (raw bytes overriding config), layer_descs (the OCI manifest's
    layer descriptors) and blobs (digest -> bytes actually shipped for the layers).
    """

    def __init__(self, name, layers, arch="amd64", variant=None, cmd=CMD):
        self.name = name
        self.layers = list(layers)
        self.platform = {"architecture": arch, "os": "linux", **({"variant": variant} if variant else {})}
        self.config = {
            "created": CREATED,
            **self.platform,
            "config": {"Cmd": cmd},
            "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in self.layers]},
            "history": [{"created": CREATED, "created_by": f"layer {i}"} for i in range(len(self.layers))],
        }
        self.config_blob = None
        self.layer_descs = [layer.descriptor() for layer in self.layers]
        self.blobs = {digest(layer.blob): layer.blob for layer in self.layers}

    def config_bytes(self) -> bytes:
        return self.config_blob if self.config_blob is not None else dumps(self.config)

    def manifest_bytes(self) -> bytes:
        return dumps({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor(OCI_CONFIG, self.config_bytes()),
            "layers": self.layer_descs,
        })

    def all_blobs(self) -> dict:
        config, manifest = self.config_bytes(), self.manifest_bytes()
        return {**self.blobs, digest(config): config, digest(manifest): manifest}

    def facts(self, oci=True) -> dict:
        """What a test can assert about a consistent image."""
        platform = [self.platform[k] for k in ("os", "architecture", "variant") if k in self.platform]
        out = {"name": self.name, "platform": "/".join(platform),
               "config": digest(self.config_bytes()),
               "diff_ids": self.config["rootfs"]["diff_ids"]}
        if oci:
            out["manifest"] = digest(self.manifest_bytes())
            out["layers"] = [d["digest"] for d in self.layer_descs]
        return out


def chain_ids(diff_ids):
    chain = []
    for diff_id in diff_ids:
        chain.append(diff_id if not chain else digest(f"{chain[-1]} {diff_id}".encode()))
    return chain


# ---------------------------------------------------------------------------- archive layouts

class Symlink(NamedTuple):
    target: str


def archive_bytes(files: dict, fmt=tarfile.USTAR_FORMAT, global_pax=None) -> bytes:
    """Outer archive: every path of `files` (bytes or Symlink) plus its parent directories,
    sorted by name (the order Docker/containerd/skopeo produce by walking a directory:
    blobs first, index.json / manifest.json after them)."""
    entries = dict(files)
    for path in files:
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            entries["/".join(parts[:i]) + "/"] = None
    members = []
    for name in sorted(entries):
        value = entries[name]
        if value is None:
            members.append(dir_(name.rstrip("/")))
        elif isinstance(value, Symlink):
            members.append(sym(name, value.target))
        else:
            members.append(reg(name, value))
    return make_tar(members, fmt, global_pax)


def oci_layout(index_manifests: list, blobs: dict) -> dict:
    files = {"oci-layout": OCI_LAYOUT,
             "index.json": dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": index_manifests})}
    files.update({blob_path(d): data for d, data in blobs.items()})
    return files


def oci_files(img: Image) -> dict:
    """OCI archive as skopeo/podman write it: the full name in org.opencontainers.image.ref.name."""
    desc = descriptor(OCI_MANIFEST, img.manifest_bytes(), annotations={REF_NAME: img.name})
    return oci_layout([desc], img.all_blobs())


def docker25_files(img: Image) -> dict:
    """docker save >= 25.0.1: OCI layout + legacy manifest.json pointing into blobs/.

    manifest.json follows the config's layer order (img.layers), the OCI manifest follows
    img.layer_descs, so the two can disagree as they did in Docker 25.0.0.
    """
    repo, tag = img.name.rsplit(":", 1)
    desc = descriptor(OCI_MANIFEST, img.manifest_bytes(),
                      annotations={CONTAINERD_NAME: "docker.io/" + img.name, REF_NAME: tag})
    files = oci_layout([desc], img.all_blobs())
    layer_paths = [blob_path(digest(layer.blob)) for layer in img.layers]
    files["manifest.json"] = dumps([{"Config": blob_path(digest(img.config_bytes())),
                                     "RepoTags": [img.name], "Layers": layer_paths}])
    files["repositories"] = dumps({repo: {tag: layer_paths[-1].rsplit("/", 1)[1]}})
    return files


def docker_legacy_files(images, symlinked=False) -> dict:
    """docker save <= 24: <v1id>/{layer.tar,json,VERSION}, <config hex>.json, manifest.json,
    repositories. Layers must be uncompressed. v1 ids are derived from the chain id and the
    parent id (as Docker derives them; readers treat them as opaque). With symlinked=True,
    <v1id>/layer.tar is a symlink to ../<diff_id hex>.tar (skopeo and newer Docker)."""
    files, manifest, repositories = {}, [], {}
    for img in images:
        config = img.config_bytes()
        files[sha256_hex(config) + ".json"] = config
        parent, paths = "", []
        for layer, chain in zip(img.layers, chain_ids(layer.diff_id for layer in img.layers)):
            v1_id = sha256_hex(dumps({"layer_id": chain, "parent": parent}))
            v1_json = {"id": v1_id, **({"parent": parent} if parent else {}),
                       "created": CREATED, "container_config": {}, "os": "linux"}
            files[f"{v1_id}/VERSION"] = b"1.0"
            files[f"{v1_id}/json"] = dumps(v1_json)
            if symlinked:
                files[layer.diff_id.removeprefix("sha256:") + ".tar"] = layer.tar
                files[f"{v1_id}/layer.tar"] = Symlink(f"../{layer.diff_id.removeprefix('sha256:')}.tar")
            else:
                files[f"{v1_id}/layer.tar"] = layer.tar
            paths.append(f"{v1_id}/layer.tar")
            parent = v1_id
        manifest.append({"Config": sha256_hex(config) + ".json", "RepoTags": [img.name], "Layers": paths})
        repo, tag = img.name.rsplit(":", 1)
        repositories.setdefault(repo, {})[tag] = parent
    files["manifest.json"] = dumps(manifest)
    files["repositories"] = dumps(repositories)
    return files


def multiplatform_files(fixture: str, drop_amd64_layer=None) -> tuple:
    """index.json -> image index (linux/amd64 + linux/arm64/v8), Docker containerd-store style:
    the arm64 manifest blob is present, its config and layers are not (kind#3795)."""
    amd64 = Image(ref(fixture), base_layers("gzip"))
    arm64_layer = Layer(make_tar([dir_("bin"), reg("bin/arm64.txt", b"arm64\n")]), "gzip")
    arm64 = Image(ref(fixture), [arm64_layer], arch="arm64", variant="v8")
    if drop_amd64_layer is not None:
        del amd64.blobs[amd64.layer_descs[drop_amd64_layer]["digest"]]
    index = dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        descriptor(OCI_MANIFEST, img.manifest_bytes(), platform=img.platform) for img in (amd64, arm64)]})
    desc = descriptor(OCI_INDEX, index,
                      annotations={CONTAINERD_NAME: "docker.io/" + ref(fixture), REF_NAME: "v1"})
    arm64_manifest = arm64.manifest_bytes()
    blobs = {**amd64.all_blobs(), digest(arm64_manifest): arm64_manifest, digest(index): index}
    facts = {"index": digest(index), "images": [amd64.facts()],
             "arm64": {"manifest": digest(arm64_manifest),
                       "missing": [digest(arm64.config_bytes()), arm64.layer_descs[0]["digest"]]}}
    return archive_bytes(oci_layout([desc], blobs)), facts, amd64


def attestation_manifest(fixture: str, subject: dict, label: str) -> tuple:
    """A BuildKit attestation manifest (provenance) for the image manifest `subject`: platform
    unknown/unknown, annotations vnd.docker.reference.{type,digest}, a config of an unknown
    platform and one layer of application/vnd.in-toto+json (a JSON statement, not a tar)."""
    statement = dumps({
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": "https://slsa.dev/provenance/v0.2",
        "subject": [{"name": f"pkg:docker/{ref(fixture)}", "digest": {"sha256": subject["digest"][7:]}}],
        "predicate": {"builder": {"id": ""}, "buildType": "https://mobyproject.org/buildkit@v1",
                      "metadata": {"buildkit_metadata": {"label": label}}},
    })
    config = dumps({"architecture": "unknown", "os": "unknown", "config": {},
                    "rootfs": {"type": "layers", "diff_ids": [digest(statement)]}})
    layer = descriptor("application/vnd.in-toto+json", statement,
                       annotations={"in-toto.io/predicate-type": "https://slsa.dev/provenance/v0.2"})
    manifest = dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                      "config": descriptor(OCI_CONFIG, config), "layers": [layer]})
    desc = descriptor(OCI_MANIFEST, manifest, platform={"architecture": "unknown", "os": "unknown"},
                      annotations={"vnd.docker.reference.digest": subject["digest"],
                                   "vnd.docker.reference.type": "attestation-manifest"})
    return desc, {digest(manifest): manifest, digest(config): config, digest(statement): statement}


def docker29_files(fixture: str, with_attestations: bool, corrupt_attestation: bool = False) -> tuple:
    """`docker save` of Docker 29 (containerd image store): OCI layout + manifest.json. index.json
    names an image index holding every platform of the image and, for a local build
    (`docker buildx build --load`), BuildKit's attestation manifests. Only what the local store
    holds is exported: linux/amd64 whole, linux/arm64/v8 and linux/arm/v7 not at all, and the
    attestation of linux/amd64 only (kind#3795)."""
    amd64 = Image(ref(fixture), base_layers("gzip"))
    others = [Image(ref(fixture), [Layer(make_tar([dir_("bin"), reg(f"bin/{arch}.txt", arch.encode())]), "gzip")],
                    arch=arch, variant=variant) for arch, variant in (("arm64", "v8"), ("arm", "v7"))]
    entries, blobs = [], dict(amd64.all_blobs())
    platform_descs = [descriptor(OCI_MANIFEST, img.manifest_bytes(), platform=img.platform)
                      for img in [amd64] + others]
    entries += platform_descs
    attestations = {}
    if with_attestations:
        for img, subject in zip([amd64] + others, platform_descs):
            desc, att_blobs = attestation_manifest(fixture, subject, img.platform["architecture"])
            entries.append(desc)
            attestations["/".join(img.platform[k] for k in ("os", "architecture", "variant") if k in img.platform)] = desc
            if img is amd64:
                blobs.update(att_blobs)
        if corrupt_attestation:
            statement_digest = [d for d, data in blobs.items() if data.startswith(b'{"_type"')][0]
            data = bytearray(blobs[statement_digest])
            data[len(data) // 2] ^= 0x01
            blobs[statement_digest] = bytes(data)
    index = dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries})
    blobs[digest(index)] = index
    files = oci_layout([descriptor(OCI_INDEX, index, annotations={CONTAINERD_NAME: "docker.io/" + ref(fixture),
                                                                  REF_NAME: "v1"})], blobs)
    files["manifest.json"] = dumps([{"Config": blob_path(digest(amd64.config_bytes())), "RepoTags": [ref(fixture)],
                                     "Layers": [blob_path(d["digest"]) for d in amd64.layer_descs]}])
    facts = {"index": digest(index), "images": [amd64.facts()],
             "absent_platforms": ["linux/arm64/v8", "linux/arm/v7"],
             "attestations": {p: d["digest"] for p, d in attestations.items()}}
    return archive_bytes(files), facts, amd64


# ---------------------------------------------------------------------------- fixtures

FIXTURES = {}


def fixture(build):
    """Registers build(name) -> (archive bytes, expectations) as <name>.tar."""
    FIXTURES[build.__name__.replace("_", "-")] = build
    return build


def ok(*images, oci=True, **extra):
    return {"verdict": "ok", "images": [img.facts(oci) for img in images], **extra}


def error(kind, img=None, **details):
    """An archive a verifier must reject; img names the image the defect belongs to."""
    return {"verdict": "error", "error": kind, **({"image": img.name} if img else {}), **details}


def with_extra_layer(name, members, fmt=tarfile.PAX_FORMAT, global_pax=None, raw_prefix=b"") -> Image:
    """Base image (gzip) + layer index 3 made of `members` (raw_prefix: pre-built tar members)."""
    extra = Layer(raw_prefix + make_tar(members, fmt, global_pax), "gzip")
    return Image(ref(name), base_layers("gzip") + [extra])


# --- good images in every layout

@fixture
def docker_legacy(name):
    img = Image(ref(name), base_layers("none"))
    return archive_bytes(docker_legacy_files([img])), ok(img, oci=False)


@fixture
def docker_legacy_symlinked(name):
    img = Image(ref(name), base_layers("none"))
    return archive_bytes(docker_legacy_files([img], symlinked=True)), ok(img, oci=False)


@fixture
def docker25_good(name):
    img = Image(ref(name), base_layers("none"))
    return archive_bytes(docker25_files(img)), ok(img)


@fixture
def oci_gzip(name):
    img = Image(ref(name), base_layers("gzip"))
    return archive_bytes(oci_files(img)), ok(img)


@fixture
def oci_zstd(name):
    img = Image(ref(name), base_layers("zstd"))
    return archive_bytes(oci_files(img)), ok(img)


@fixture
def oci_mixed(name):
    img = Image(ref(name), base_layers("gzip", "zstd", "none"))
    return archive_bytes(oci_files(img)), ok(img, compressions=["gzip", "zstd", "none"])


@fixture
def oci_multiplatform(name):
    data, facts, _ = multiplatform_files(name)
    return data, {"verdict": "ok", "platform": "linux/amd64", **facts,
                  "note": "arm64 config and layer are absent; fine unless all platforms are required"}


@fixture
def oci_multiplatform_missing_amd64(name):
    data, facts, amd64 = multiplatform_files(name, drop_amd64_layer=1)
    return data, error("blob-missing", amd64, platform="linux/amd64", layer_index=1,
                       digest=amd64.layer_descs[1]["digest"], **facts)


@fixture
def docker29_buildx_load(name):
    data, facts, _ = docker29_files(name, with_attestations=True)
    return data, {"verdict": "ok", "platform": "linux/amd64", **facts,
                  "note": "Docker 29 save of a local build: arm64 and arm absent, attestation of amd64 present"}


@fixture
def docker29_pulled(name):
    data, facts, _ = docker29_files(name, with_attestations=False)
    return data, {"verdict": "ok", "platform": "linux/amd64", **facts,
                  "note": "Docker 29 save of a pulled image: no attestations, arm64 and arm absent"}


@fixture
def docker29_attestation_corrupt(name):
    data, facts, amd64 = docker29_files(name, with_attestations=True, corrupt_attestation=True)
    return data, error("blob-digest-mismatch", amd64, platform="linux/amd64", **facts)


@fixture
def oci_nested_index(name):
    img = Image(ref(name), base_layers("gzip"))
    inner = dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        descriptor(OCI_MANIFEST, img.manifest_bytes(), platform=img.platform)]})
    outer = dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                   "manifests": [descriptor(OCI_INDEX, inner)]})
    blobs = {**img.all_blobs(), digest(inner): inner, digest(outer): outer}
    files = oci_layout([descriptor(OCI_INDEX, outer, annotations={REF_NAME: img.name})], blobs)
    return archive_bytes(files), ok(img, indexes=[digest(outer), digest(inner)])


@fixture
def docker_legacy_two_images(name):
    base = base_layers("none")
    v1 = Image(ref(name, "v1"), base)
    v2_layer = Layer(make_tar([dir_("etc"), reg("etc/v2.txt", b"hello from v2\n")]), "none")
    v2 = Image(ref(name, "v2"), base[:1] + [v2_layer], cmd=["/bin/cat", "/etc/v2.txt"])
    return archive_bytes(docker_legacy_files([v1, v2])), ok(v1, v2, oci=False, shared_layers=[0])


# --- Docker 25.0.0 defects: OCI manifest wrong, legacy manifest.json right

@fixture
def docker25_defect_order(name):
    img = Image(ref(name), base_layers("none"))
    img.layer_descs = [img.layer_descs[i] for i in (0, 2, 1)]
    return archive_bytes(docker25_files(img)), error(
        "diff-id-mismatch", img, source="index.json (OCI manifest)", oci_manifest_order=[0, 2, 1],
        mismatched_indexes=[1, 2], oci_manifest=digest(img.manifest_bytes()),
        legacy_manifest_json="consistent", issue="moby#47150", images=[img.facts(oci=False)])


@fixture
def docker25_defect_count(name):
    layers = base_layers("none")
    img = Image(ref(name), layers + layers[2:])  # layer 3 == layer 2 (idempotent re-apply)
    img.layer_descs = img.layer_descs[:3]  # Docker 25.0.0 dropped the duplicate
    return archive_bytes(docker25_files(img)), error(
        "layer-count-mismatch", img, source="index.json (OCI manifest)", config_diff_ids=4,
        manifest_layers=3, duplicate_diff_id=layers[2].diff_id, duplicate_indexes=[2, 3],
        oci_manifest=digest(img.manifest_bytes()), legacy_manifest_json="consistent",
        issue="moby#47065", images=[img.facts(oci=False)])


# --- broken OCI-gzip images: exactly one defect each, in layer index 1 unless stated

@fixture
def wrong_diffid(name):
    img = Image(ref(name), base_layers("gzip"))
    actual = img.config["rootfs"]["diff_ids"][1]
    img.config["rootfs"]["diff_ids"][1] = fake_digest(name)
    return archive_bytes(oci_files(img)), error(
        "diff-id-mismatch", img, layer_index=1, config_diff_id=fake_digest(name), actual_diff_id=actual)


@fixture
def count_mismatch(name):
    img = Image(ref(name), base_layers("gzip"))
    del img.blobs[img.layer_descs[2]["digest"]]
    img.layer_descs = img.layer_descs[:2]
    return archive_bytes(oci_files(img)), error(
        "layer-count-mismatch", img, config_diff_ids=3, manifest_layers=2)


@fixture
def reordered(name):
    img = Image(ref(name), base_layers("gzip"))
    img.layer_descs = [img.layer_descs[i] for i in (1, 0, 2)]
    return archive_bytes(oci_files(img)), error(
        "diff-id-mismatch", img, manifest_order=[1, 0, 2], mismatched_indexes=[0, 1])


@fixture
def corrupted_blob(name):
    img = Image(ref(name), base_layers("gzip"))
    dgst = img.layer_descs[1]["digest"]
    damaged = bytearray(img.blobs[dgst])
    damaged[len(damaged) // 2] ^= 0xFF
    img.blobs[dgst] = bytes(damaged)
    return archive_bytes(oci_files(img)), error(
        "blob-digest-mismatch", img, layer_index=1, digest=dgst, actual_digest=digest(damaged),
        byte_offset_in_blob=len(damaged) // 2)


@fixture
def missing_blob(name):
    img = Image(ref(name), base_layers("gzip"))
    del img.blobs[img.layer_descs[1]["digest"]]
    return archive_bytes(oci_files(img)), error(
        "blob-missing", img, layer_index=1, digest=img.layer_descs[1]["digest"])


@fixture
def truncated(name):
    img = Image(ref(name), base_layers("gzip"))
    good = archive_bytes(oci_files(img))
    with tarfile.open(fileobj=io.BytesIO(good)) as tf:
        member = tf.getmember(blob_path(img.layer_descs[0]["digest"]))
    cut = member.offset_data + member.size // 2
    return good[:cut], error("truncated-archive", img, layer_index=0, digest=img.layer_descs[0]["digest"],
                             archive_size=cut, full_size=len(good))


@fixture
def size_mismatch(name):
    img = Image(ref(name), base_layers("gzip"))
    real = img.layer_descs[1]["size"]
    img.layer_descs[1] = {**img.layer_descs[1], "size": real + 1}
    return archive_bytes(oci_files(img)), error(
        "blob-size-mismatch", img, layer_index=1, descriptor_size=real + 1, actual_size=real)


@fixture
def mediatype_mismatch(name):
    img = Image(ref(name), base_layers("gzip", "zstd", "gzip"))
    img.layer_descs[1] = {**img.layer_descs[1], "mediaType": LAYER_MEDIA_TYPES["gzip"]}
    return archive_bytes(oci_files(img)), error(
        "media-type-mismatch", img, layer_index=1, declared=LAYER_MEDIA_TYPES["gzip"], actual="zstd",
        digest=img.layer_descs[1]["digest"])


@fixture
def malformed_json(name):
    img = Image(ref(name), base_layers("gzip"))
    img.config_blob = dumps(img.config)[:-1]  # drop the closing brace
    return archive_bytes(oci_files(img)), error(
        "malformed-json", img, document="config", digest=digest(img.config_blob))


@fixture
def oversized_json(name):
    img = Image(ref(name), base_layers("none"))
    files = docker_legacy_files([img])
    manifest = json.loads(files["manifest.json"])
    manifest[0]["Padding"] = "x" * OVERSIZED_JSON_BYTES
    files["manifest.json"] = dumps(manifest)
    return archive_bytes(files), error(
        "json-too-large", img, document="manifest.json", size=len(files["manifest.json"]),
        limit=8 * 1024 * 1024)


@fixture
def corrupt_gzip(name):
    img = Image(ref(name), base_layers("gzip"))
    old = img.layer_descs[1]["digest"]
    damaged = bytearray(img.blobs.pop(old))
    damaged[len(damaged) // 2] ^= 0xFF  # inside the deflate stream (header 10 B, trailer 8 B)
    damaged = bytes(damaged)
    try:
        gzip.decompress(damaged)
    except (OSError, EOFError, zlib.error):
        pass  # damaged as intended
    else:
        raise AssertionError("damaged gzip stream still decompresses")
    img.blobs[digest(damaged)] = damaged
    img.layer_descs[1] = descriptor(LAYER_MEDIA_TYPES["gzip"], damaged)
    return archive_bytes(oci_files(img)), error(
        "decompression-error", img, layer_index=1, digest=digest(damaged))


@fixture
def two_images_one_bad(name):
    base = base_layers("none")
    good = Image(ref(name, "v1"), base)
    bad = Image(ref(name, "v2"), base)
    bad.config["rootfs"]["diff_ids"][1] = fake_digest(name)
    return archive_bytes(docker_legacy_files([good, bad])), error(
        "diff-id-mismatch", bad, layer_index=1, config_diff_id=fake_digest(name),
        actual_diff_id=base[1].diff_id, good_images=[good.facts(oci=False)],
        note="all-or-nothing: nothing may be imported, not even the good v1")


# --- hostile layer entries (layer index 3)

def hostile(name, member, description):
    img = with_extra_layer(name, [member])
    info = member[0]
    link = {"linkname": info.linkname} if info.linkname else {}
    return archive_bytes(oci_files(img)), error(
        "unsafe-path", img, layer_index=3, entry=info.name, **link, description=description)


@fixture
def traversal(name):
    return hostile(name, reg("../../etc/evil", b"evil\n"), "entry climbs out of the root")


@fixture
def traversal_midpath(name):
    return hostile(name, reg("a/../../evil", b"evil\n"), ".. in the middle climbs out of the root")


@fixture
def hardlink_escape(name):
    return hostile(name, hard("data/escape", "../../etc/shadow"), "hardlink target outside the root")


@fixture
def absolute_path(name):
    img = with_extra_layer(name, [reg("/etc/abs", b"abs\n")])
    return archive_bytes(oci_files(img)), ok(
        img, layer_index=3, entry="/etc/abs",
        note="containerd applies it as <root>/etc/abs; acceptable (warning at most)")


# --- not images

@fixture
def not_a_tar(name):
    data = pseudo_random(name, 4096)
    assert not tarfile.is_tarfile(io.BytesIO(data))
    return data, error("not-a-tar")


@fixture
def empty(name):
    return make_tar([]), error("no-images", note="valid tar with no entries")


@fixture
def no_index(name):
    img = Image(ref(name), base_layers("gzip"))
    files = {blob_path(d): data for d, data in img.all_blobs().items()}
    return archive_bytes(files), error(
        "no-images", note="blobs only: no oci-layout, index.json or manifest.json")


# --- tar format edge cases (all consistent images)

@fixture
def gnu_longnames(name):
    long_path = f"gnu/{LONG_DIR}/{LONG_FILE}"
    assert len(long_path) == 150
    img = with_extra_layer(name, [dir_("gnu"), dir_(f"gnu/{LONG_DIR}"), reg(long_path, b"gnu long name\n"),
                                  sym("gnu-link", long_path)], fmt=tarfile.GNU_FORMAT)
    return archive_bytes(oci_files(img)), ok(
        img, layer_index=3, long_path=long_path, symlink="gnu-link",
        note="GNU ././@LongLink 'L' and 'K' entries")


@fixture
def pax_headers(name):
    long_path = f"pax/{LONG_DIR}/{LONG_FILE}"
    members = [
        dir_("pax"),
        dir_(f"pax/{LONG_DIR}"),
        reg(long_path, b"pax long name\n"),
        sym("pax/long-link", "../" + long_path),
        reg("pax/ünïcødé-ファイル.txt", b"pax unicode\n"),
        reg("pax/xattr.txt", b"xattr\n", pax={"SCHILY.xattr.user.kni": "value"}),
    ]
    img = with_extra_layer(name, members, global_pax={"comment": "kind-node-import global header"})
    return archive_bytes(oci_files(img)), ok(
        img, layer_index=3, long_path=long_path, xattr={"path": "pax/xattr.txt", "user.kni": "value"},
        note="layer starts with a pax global header ('g')")


@fixture
def pax_outer(name):
    img = Image(ref(name), base_layers("gzip"))
    data = archive_bytes(oci_files(img), fmt=tarfile.PAX_FORMAT,
                         global_pax={"comment": "kind-node-import outer global header"})
    return data, ok(img, note="outer archive starts with a pax global header ('g')")


@fixture
def layer_sparse(name):
    size = 1024 * 1024
    sparse = gnu_sparse_member("data/sparse.bin", size, [(0, b"S" * 512), (size - 512, b"E" * 512)])
    img = with_extra_layer(name, [reg("data/after-sparse.txt", b"after\n")], fmt=tarfile.GNU_FORMAT,
                           raw_prefix=sparse)
    with tarfile.open(fileobj=io.BytesIO(img.layers[3].tar)) as tf:  # tarfile must expand it
        content = tf.extractfile("data/sparse.bin").read()
    assert content == b"S" * 512 + b"\0" * (size - 1024) + b"E" * 512
    return archive_bytes(oci_files(img)), ok(
        img, layer_index=3, sparse_file="data/sparse.bin", real_size=size, stored_bytes=1024,
        sparse_sha256=digest(content))


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: handmade.py OUTDIR")
    out = Path(sys.argv[1]) / "handmade"
    out.mkdir(parents=True, exist_ok=True)
    expectations = {}
    for name, build in FIXTURES.items():
        data, facts = build(name)
        (out / f"{name}.tar").write_bytes(data)
        expectations[f"{name}.tar"] = facts
    (out / "expectations.json").write_text(json.dumps(expectations, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
