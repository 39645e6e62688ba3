#!/usr/bin/env python3
"""Writes an OCI image archive (uncompressed layers, linux/amd64) whose layers are described by
tar-from-spec.py's JSON entry lists — for tests that need a specific layer corpus in a real image.

    image-from-spec.py OUT.tar NAME '<json: [[entry, ...], [entry, ...], ...]>'
"""
import hashlib, io, json, os, subprocess, sys, tarfile, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def blob(data):
    return "sha256:" + hashlib.sha256(data).hexdigest(), data


def main():
    out, name, layers = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    blobs, descriptors, diff_ids = [], [], []
    with tempfile.TemporaryDirectory() as work:
        for index, entries in enumerate(layers):
            path = os.path.join(work, f"layer{index}.tar")
            subprocess.run([sys.executable, os.path.join(HERE, "tar-from-spec.py"), path, json.dumps(entries)],
                           check=True)
            digest, data = blob(open(path, "rb").read())
            blobs.append((digest, data))
            diff_ids.append(digest)
            descriptors.append({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest,
                                "size": len(data)})
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}}, sort_keys=True).encode()
    config_digest, _ = blob(config)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": config_digest, "size": len(config)},
                           "layers": descriptors}, sort_keys=True).encode()
    manifest_digest, _ = blob(manifest)
    index = json.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest,
        "size": len(manifest), "annotations": {"io.containerd.image.name": name}}]}, sort_keys=True).encode()
    with tarfile.open(out, "w") as tar:
        def add(path, data):
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
        add("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        for digest, data in blobs + [(config_digest, config), (manifest_digest, manifest)]:
            add("blobs/sha256/" + digest[7:], data)
        add("index.json", index)


if __name__ == "__main__":
    main()
