import Core
import Foundation
import LayerApplier
import OCI
import Testing
import TestSupport
import Verification

/// The layer corpus of `corpusImage`: every kind of entry, replacements across layers,
/// whiteouts, opaque directories and directories implied by deeper entries.
var corpusLayers: [LayerSpec] {
    [
    [
        ["name": "bin", "type": "dir"], ["name": "etc", "type": "dir", "mode": 0o750],
        ["name": "bin/tool", "data": "#!/bin/sh\n", "mode": 0o4755],
        ["name": "bin/group-tool", "data": "g", "mode": 0o2711, "gid": 50],
        ["name": "tmp", "type": "dir", "mode": 0o1777],
        ["name": "etc/owned", "data": "owned", "uid": 1234, "gid": 5678, "mode": 0o600],
        ["name": "etc/xattr", "data": "x", "xattrs": ["user.kni": "value", "user.empty": ""]],
        ["name": "etc/link-abs", "type": "symlink", "link": "/etc/owned"],
        ["name": "etc/link-rel", "type": "symlink", "link": "../bin/tool", "uid": 7, "gid": 8],
        ["name": "etc/hard", "type": "hardlink", "link": "etc/owned"],
        ["name": "etc/fifo", "type": "fifo", "mode": 0o640],
        ["name": "etc/null", "type": "char", "major": 1, "minor": 3, "mode": 0o666],
        ["name": "etc/loop", "type": "block", "major": 7, "minor": 0, "mode": 0o660],
        ["name": "etc/" + String(repeating: "long-name-", count: 14) + "end", "data": "long"],
        ["name": "etc/ünïcødé ✓", "data": "utf8"],
        ["name": "etc/empty", "data": ""],
        ["name": "etc/big", "size": 300_000, "mtime": 1_600_000_000.123456789],
        ["name": "data/f2d", "data": "file becomes dir"], ["name": "data/d2f/inner", "data": "dir becomes file"],
        ["name": "data/s2d", "type": "symlink", "link": "/etc"],
        ["name": "data/gone", "data": "whited out"], ["name": "data/gonedir/x", "data": "x"],
        ["name": "data/opq/old", "data": "old"], ["name": "data/opq/sub/older", "data": "older"],
        ["name": "implied", "type": "dir", "mode": 0o700, "uid": 1234, "gid": 5678, "xattrs": ["user.dir": "d"]],
    ],
    [
        ["name": "data/f2d", "type": "dir"], ["name": "data/f2d/now-a-dir", "data": "d"], ["name": "data/d2f", "data": "now a file"],
        ["name": "data/s2d", "type": "dir", "mode": 0o711], ["name": "data/s2d/in", "data": "in"],
        ["name": "data/.wh.gone", "data": ""], ["name": "data/.wh.gonedir", "data": ""],
        ["name": "data/opq/.wh..wh..opq", "data": ""], ["name": "data/opq/new", "data": "new"],
        ["name": "implied/deeper/file", "data": "parents implied"],
        ["name": "etc/hard2", "data": "h2"], ["name": "etc/hard2-link", "type": "hardlink", "link": "etc/hard2"],
    ],
    [
        ["name": "etc", "type": "dir", "mode": 0o755, "mtime": 1_650_000_000],
        ["name": "etc/owned", "data": "replaced", "uid": 42, "gid": 42, "mode": 0o644],
        ["name": "tmp", "type": "dir", "mode": 0o1777, "xattrs": ["user.note": "sticky"]],
    ],
    ]
}

/// Archives whose layers are compared: real producers and hand-made tar edge cases.
/// (handmade/layer-sparse.tar is not: containerd refuses old GNU sparse entries, "unhandled tar
/// header type 83"; SparseFileTests checks ours against the file it describes.)
let equalityArchives = [
    "real/oci-gzip.tar", "real/oci-zstd.tar", "handmade/gnu-longnames.tar", "handmade/pax-headers.tar", "corpus",
]

/// Lines of a tree manifest, without the mtimes that record "now" (set by the kernel when
/// entries are created inside a directory, or on whiteout devices): both sides write those
/// during the test, so only times from the layers are compared.
func comparable(_ lines: [String], since start: Int64) -> [String] {
    lines.map { line in
        line.split(separator: " ").filter { field in
            guard field.hasPrefix("mtime="), let value = Int64(field.dropFirst(6)) else { return true }
            return value < start
        }.joined(separator: " ")
    }
}

/// The archive's layer blobs, bottom first, extracted into `directory`.
func layerBlobs(_ archive: String, in directory: TemporaryDirectory) throws -> [String] {
    let report = try ArchiveVerifier(platform: Platform(os: "linux", architecture: "amd64")).verify(InputFile(path: archive)).report
    let image = try #require(report.images.first)
    let extracted = directory.path("archive")
    try FileManager.default.createDirectory(atPath: extracted, withIntermediateDirectories: true)
    try runChecked(["tar", "-xf", archive, "-C", extracted])
    return image.layers.map { extracted + "/blobs/sha256/" + $0.digest.hex }
}

func archivePath(_ name: String, in temp: TemporaryDirectory) throws -> String {
    guard name == "corpus" else { return try Fixtures.path(name) }
    let path = temp.path("corpus.tar")
    let json = String(decoding: try JSONSerialization.data(withJSONObject: corpusLayers), as: UTF8.self)
    try Fixtures.makeImage(at: path, name: "docker.io/kni/corpus:v1", layers: json)
    return path
}

/// containerd's own trees for `archive`: (diff_id, manifest lines) per layer.
func containerdTrees(_ archive: String, snapshotter: String, in temp: TemporaryDirectory, options: [String] = [])
    throws -> [(diffID: String, lines: [String])]
{
    let out = temp.path("containerd-\(snapshotter)")
    let result = try runChecked(
        [packageRoot.appendingPathComponent("scripts/containerd-layer-trees").path, archive, out, "--snapshotter", snapshotter]
            + options)
    return try result.stdoutText.split(separator: "\n").map { line in
        let fields = line.split(separator: " ")
        let manifest = try String(contentsOfFile: out + "/layer-\(fields[0]).manifest", encoding: .utf8)
        return (String(fields[1]), manifest.split(separator: "\n").map(String.init))
    }
}

func nowNanoseconds() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
}

@Suite(.serialized, rootOnly) struct ContainerdEqualityTests {
    /// overlayfs: layer 1 into a bind-mounted (plain) snapshot, the others into upper directories
    /// above the previous ones, exactly as containerd's snapshots hold them.
    @Test(arguments: equalityArchives)
    func overlayLayersEqualContainerdSnapshots(archive name: String) throws {
        let temp = try TemporaryDirectory()
        let archive = try archivePath(name, in: temp)
        let start = nowNanoseconds()
        let reference = try containerdTrees(archive, snapshotter: "overlayfs", in: temp)
        let blobs = try layerBlobs(archive, in: temp)
        #expect(blobs.count == reference.count)
        var lowers: [String] = []
        for (index, blob) in blobs.enumerated() {
            let directory = temp.path("ours-\(index)")
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let applied = try applyLayer(blob, to: directory, mode: index == 0 ? .plain : .overlayUpper(lowers: lowers))
            #expect(applied.diffID.description == reference[index].diffID, "\(name) layer \(index)")
            let ours = comparable(try treeManifest(directory), since: start)
            let theirs = comparable(reference[index].lines, since: start)
            let same = ours == theirs
            #expect(same, "\(name) layer \(index): \(Self.difference(ours, theirs))")
            lowers.insert(directory, at: 0)
        }
    }

    /// native: every layer applied in turn into one plain directory equals containerd's top
    /// native snapshot (which copies its parent, so directory times are not comparable).
    @Test(arguments: equalityArchives)
    func plainApplicationEqualsTheNativeSnapshot(archive name: String) throws {
        let temp = try TemporaryDirectory()
        let archive = try archivePath(name, in: temp)
        let start = nowNanoseconds()
        let reference = try containerdTrees(archive, snapshotter: "native", in: temp, options: ["--no-dir-mtimes"])
        let directory = temp.path("ours")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for blob in try layerBlobs(archive, in: temp) { try applyLayer(blob, to: directory) }
        let ours = comparable(try treeManifest(directory, ["--no-dir-mtimes"]), since: start)
        let theirs = comparable(try #require(reference.last).lines, since: start)
        let same = ours == theirs
        #expect(same, "\(name): \(Self.difference(ours, theirs))")
    }

    static func difference(_ ours: [String], _ theirs: [String]) -> String {
        let onlyOurs = Set(ours).subtracting(theirs).sorted().prefix(10)
        let onlyTheirs = Set(theirs).subtracting(ours).sorted().prefix(10)
        return "only ours: \(Array(onlyOurs)); only containerd's: \(Array(onlyTheirs))"
    }
}
