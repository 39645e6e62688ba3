import Foundation

/// A private containerd (scripts/private-containerd: its own root, state and socket in a temp
/// dir) for one test, stopped and removed whatever happens.
public final class PrivateContainerd {
    public static let script = packageRoot.appendingPathComponent("scripts/private-containerd").path
    public let temp: TemporaryDirectory
    public let directory: String
    public let socket: String

    /// - Parameter cri: keep containerd's CRI plugin (`start --cri`), for tests of what kubelet sees.
    public init(cri: Bool = false) throws {
        temp = try TemporaryDirectory()
        directory = temp.path("containerd")
        socket = try runChecked([Self.script, "start", directory] + (cri ? ["--cri"] : [])).stdoutText
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    deinit {
        _ = try? run([Self.script, "stop", directory])
    }

    /// `ctr -n k8s.io ARGS` against this containerd.
    public func ctr(_ arguments: [String]) throws -> ProcessResult {
        try runChecked(["ctr", "-a", socket, "-n", "k8s.io"] + arguments)
    }

    /// Image name → target digest.
    public func images() throws -> [String: String] {
        var records: [String: String] = [:]
        for line in try ctr(["images", "ls"]).stdoutText.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            records[String(fields[0])] = String(fields[2])
        }
        return records
    }

    public func contentDigests() throws -> Set<String> {
        Set(try ctr(["content", "ls", "-q"]).stdoutText.split(separator: "\n").map(String.init))
    }

    /// `kind-node-import import` with kind's flags against this containerd.
    public func importArchive(_ archive: String, _ extra: [String] = []) throws -> ProcessResult {
        try run(
            [builtExecutable, "import", "--address", socket, "--all-platforms", "--snapshotter=overlayfs"] + extra
                + ["-"], stdinFile: archive)
    }

    /// What the image prints when run (its Cmd cats /etc/hello.txt). A second run when the
    /// first printed nothing: under heavy load ctr 1.6's `run --rm` was seen (once in many runs)
    /// to lose the output of a process that exits at once.
    public func runImage(_ name: String) throws -> String {
        let output = try ctr(["run", "--rm", name, "kni-test-\(UUID().uuidString.prefix(8))"]).stdoutText
        if !output.isEmpty { return output }
        return try ctr(["run", "--rm", name, "kni-test-\(UUID().uuidString.prefix(8))"]).stdoutText
    }
}
