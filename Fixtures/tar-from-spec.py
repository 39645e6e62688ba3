#!/usr/bin/env python3
"""Writes a tar stream described by a JSON list of entries — the tests' way to build layers,
hostile ones included, on the fly (tarfile writes any name it is given).

    tar-from-spec.py OUT.tar '<json>'        (format: PAX unless an entry asks otherwise)

Each entry: {"name": str, "type": "file"|"dir"|"symlink"|"hardlink"|"fifo"|"char"|"block",
             "data": str (file content, utf-8), "size": int (file of that many 'x' bytes instead),
             "link": str, "mode": int, "uid": int, "gid": int, "mtime": number,
             "xattrs": {name: value}, "major": int, "minor": int}
"""
import io, json, sys, tarfile

TYPES = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
         "hardlink": tarfile.LNKTYPE, "fifo": tarfile.FIFOTYPE, "char": tarfile.CHRTYPE,
         "block": tarfile.BLKTYPE}


def main():
    out, spec = sys.argv[1], json.loads(sys.argv[2])
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        for item in spec:
            info = tarfile.TarInfo(item["name"])
            info.type = TYPES[item.get("type", "file")]
            info.mode = item.get("mode", 0o755 if info.type == tarfile.DIRTYPE else 0o644)
            info.uid = item.get("uid", 0)
            info.gid = item.get("gid", 0)
            info.mtime = item.get("mtime", 1700000000)
            info.linkname = item.get("link", "")
            info.devmajor = item.get("major", 0)
            info.devminor = item.get("minor", 0)
            if "xattrs" in item:
                info.pax_headers = {"SCHILY.xattr." + k: v for k, v in item["xattrs"].items()}
            data = None
            if info.type == tarfile.REGTYPE:
                data = item["data"].encode() if "data" in item else b"x" * item.get("size", 0)
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)


if __name__ == "__main__":
    main()
