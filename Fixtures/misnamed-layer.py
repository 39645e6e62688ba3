#!/usr/bin/env python3
"""Writes a docker-archive whose one layer file carries the name of another archive's first
layer (`<digest>.tar`, as skopeo and podman name them) but holds a layer of its own: a name in
docker save's format is only a name. For the tests of cheap reloads (a node that has the named
layer must not take this file for it: import exits 75, `--spool-all` imports it).

    misnamed-layer.py REAL-DOCKER-ARCHIVE OUT.tar        # image docker.io/kni/misnamed:v1
"""
import hashlib, io, json, sys, tarfile


def main():
    real, out = sys.argv[1], sys.argv[2]
    with tarfile.open(real) as archive:
        name = json.load(archive.extractfile("manifest.json"))[0]["Layers"][0]
    if "/" in name or not name.endswith(".tar"):
        sys.exit(f"misnamed-layer.py: {real}'s first layer is {name}, not a <digest>.tar")
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        data = b"not the layer this file is named for\n"
        info = tarfile.TarInfo("misnamed.txt")
        info.size, info.mtime = len(data), 1700000000
        tar.addfile(info, io.BytesIO(data))
    layer = layer.getvalue()
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]}}).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps([{"Config": config_name, "RepoTags": ["docker.io/kni/misnamed:v1"], "Layers": [name]}]).encode()
    with tarfile.open(out, "w") as tar:
        for path, data in ((name, layer), (config_name, config), ("manifest.json", manifest)):
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


if __name__ == "__main__":
    main()
