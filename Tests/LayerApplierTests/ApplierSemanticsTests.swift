import Core
import Foundation
import LayerApplier
import Testing
import TestSupport

/// An extended attribute of `path` (not following symlinks), read with Python's os.getxattr.
func xattr(_ path: String, _ name: String) throws -> String? {
    let script = "import os, sys\ntry: print(os.getxattr(sys.argv[1], sys.argv[2], follow_symlinks=False).decode(), end='')\nexcept OSError: sys.exit(3)"
    let result = try run(["python3", "-c", script, path, name])
    return result.status == 0 ? result.stdoutText : nil
}

@Suite(rootOnly) struct ApplierSemanticsTests {
    let lower: LayerSpec = [
        ["name": "d/file", "data": "below"], ["name": "d/sub/deep", "data": "deep"], ["name": "d/keep", "data": "k"],
        ["name": "o/old", "data": "old"], ["name": "o/olddir/x", "data": "x"],
    ]

    @Test func plainWhiteoutsDeleteAndOpaqueDirectoriesKeepOnlyThisLayer() throws {
        let temp = try TemporaryDirectory()
        let root = temp.path("root")
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try applyLayer(try makeLayer(lower, in: temp), to: root)
        let upper: LayerSpec = [
            ["name": "d/.wh.file", "data": ""], ["name": "d/.wh.sub", "data": ""], ["name": "d/.wh.never-existed", "data": ""],
            ["name": "o/before-marker", "data": "b"], ["name": "o/.wh..wh..opq", "data": ""], ["name": "o/after", "data": "a"],
        ]
        try applyLayer(try makeLayer(upper, in: temp), to: root)
        #expect(!exists(root + "/d/file"))
        #expect(!exists(root + "/d/sub"))
        #expect(exists(root + "/d/keep"))
        #expect(!exists(root + "/d/.wh.file"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: root + "/o").sorted() == ["after", "before-marker"])
    }

    @Test func overlayWhiteoutsBecomeDevicesAndOpaqueMarkersXattrs() throws {
        let temp = try TemporaryDirectory()
        let lowerRoot = temp.path("lower")
        let upperRoot = temp.path("upper")
        for directory in [lowerRoot, upperRoot] {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        try applyLayer(try makeLayer(lower, in: temp), to: lowerRoot)
        let upper: LayerSpec = [
            ["name": "d/.wh.file", "data": "", "uid": 1000, "gid": 1001], ["name": "o/.wh..wh..opq", "data": ""],
            ["name": "o/new", "data": "n"],
        ]
        try applyLayer(try makeLayer(upper, in: temp), to: upperRoot, mode: .overlayUpper(lowers: [lowerRoot]))
        var info = stat()
        #expect(lstat(upperRoot + "/d/file", &info) == 0)
        #expect(info.st_mode & S_IFMT == S_IFCHR)
        #expect(info.st_rdev == 0)
        #expect(info.st_uid == 1000 && info.st_gid == 1001)
        #expect(try xattr(upperRoot + "/o", "trusted.overlay.opaque") == "y")
        #expect(!exists(upperRoot + "/o/old"))
        #expect(exists(lowerRoot + "/o/old"))

        let userRoot = temp.path("user-upper")
        try FileManager.default.createDirectory(atPath: userRoot, withIntermediateDirectories: true)
        try applyLayer(
            try makeLayer(upper, in: temp), to: userRoot, mode: .overlayUpper(lowers: [lowerRoot], userXattr: true))
        #expect(try xattr(userRoot + "/o", "user.overlay.opaque") == "y")
        #expect(try xattr(userRoot + "/o", "trusted.overlay.opaque") == nil)
    }

    @Test func theDiffIDCoversTrailingBytesAfterTheEndMarker() throws {
        let temp = try TemporaryDirectory()
        let layer = try makeLayer([["name": "f", "data": "x"]], in: temp)
        var bytes = try readBytes(layer)
        bytes += [UInt8](repeating: 0, count: 8192)
        try Data(bytes).write(to: URL(fileURLWithPath: layer))
        let root = temp.path("root")
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let applied = try applyLayer(layer, to: root)
        #expect(applied.diffID == Digest.of(bytes))
        #expect(applied.uncompressedSize == Int64(bytes.count))
        #expect(applied.compression == .none)
    }

    @Test func sparseFilesAreExpanded() throws {
        let temp = try TemporaryDirectory()
        let expectations = try JSONSerialization.jsonObject(
            with: Data(contentsOf: URL(fileURLWithPath: try Fixtures.path("handmade/expectations.json")))) as? [String: Any]
        let facts = try #require(expectations?["layer-sparse.tar"] as? [String: Any])
        let blobs = try layerBlobs(try Fixtures.path("handmade/layer-sparse.tar"), in: temp)
        let root = temp.path("root")
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        for blob in blobs { try applyLayer(blob, to: root) }
        let file = root + "/" + (facts["sparse_file"] as? String ?? "?")
        let content = try readBytes(file)
        #expect(content.count == facts["real_size"] as? Int)
        #expect(Digest.of(content).description == facts["sparse_sha256"] as? String)
    }

    @Test func unsupportedEntriesAndBrokenStreamsAreErrors() throws {
        let temp = try TemporaryDirectory()
        let root = temp.path("root")
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let layer = try makeLayer([["name": "f", "size": 10_000]], in: temp)
        let truncated = Array(try readBytes(layer).prefix(3000))
        try Data(truncated).write(to: URL(fileURLWithPath: layer))
        #expect(throws: (any Error).self) { try applyLayer(layer, to: root) }
    }
}
