import Foundation
import LayerApplier
import Testing
import TestSupport

/// A layer built from tar-from-spec.py entries.
typealias LayerSpec = [[String: Any]]

/// Writes the tar of `spec` into `directory` and returns its path.
func makeLayer(_ spec: LayerSpec, in directory: TemporaryDirectory, name: String = UUID().uuidString) throws -> String {
    let path = directory.path(name + ".tar")
    let json = String(decoding: try JSONSerialization.data(withJSONObject: spec), as: UTF8.self)
    try runChecked(["python3", packageRoot.appendingPathComponent("Fixtures/tar-from-spec.py").path, path, json])
    return path
}

/// Applies the layer file at `path` to `root`.
@discardableResult
func applyLayer(_ path: String, to root: String, mode: ApplyMode = .plain, useOpenat2: Bool = true) throws -> AppliedLayer {
    let application = try LayerApplication(root: root, mode: mode, useOpenat2: useOpenat2)
    let bytes = try readBytes(path)
    try bytes.withUnsafeBytes { raw in
        var offset = 0
        while offset < raw.count {
            let end = min(offset + 100_000, raw.count)
            try application.feed(UnsafeRawBufferPointer(rebasing: raw[offset..<end]))
            offset = end
        }
    }
    return try application.finish()
}

/// `scripts/tree-manifest` of a directory, one line per entry.
func treeManifest(_ directory: String, _ options: [String] = []) throws -> [String] {
    let result = try runChecked([packageRoot.appendingPathComponent("scripts/tree-manifest").path] + options + [directory])
    return result.stdoutText.split(separator: "\n").map(String.init)
}

/// lstat of a path: nil when nothing is there.
func lstatMode(_ path: String) -> mode_t? {
    var info = stat()
    return lstat(path, &info) == 0 ? info.st_mode : nil
}

func exists(_ path: String) -> Bool { lstatMode(path) != nil }

/// The applier's tests create devices, chown to foreign ids and set trusted.* xattrs: they need
/// root, and say so instead of failing or passing without it.
let rootOnly: ConditionTrait = .enabled(if: getuid() == 0, "needs root (mknod, chown, trusted.* xattrs)")
