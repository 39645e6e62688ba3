import Foundation

/// A private containerd (scripts/private-containerd: its own root, state and socket in a temp
/// dir) for one test, stopped and removed whatever happens.
///
/// The installation is `$KNI_CONTAINERD_DIR` (a directory holding containerd, ctr and
/// containerd-shim-runc-v2, e.g. a containerd 2.x) or Debian's /usr/bin when unset; the script
/// writes the config format of its version, and every ctr call here uses that installation's ctr.
public final class PrivateContainerd {
    public static let script = packageRoot.appendingPathComponent("scripts/private-containerd").path

    /// The directory of the containerd installation the tests run.
    public static let installation: String = {
        let directory = ProcessInfo.processInfo.environment["KNI_CONTAINERD_DIR"] ?? ""
        return directory.isEmpty ? "/usr/bin" : directory
    }()

    /// The installation's ctr: talking to a containerd 2.x with Debian's ctr 1.6 is not what a
    /// node does.
    public static let ctrExecutable = installation + "/ctr"

    /// The version `containerd --version` prints, as the Version API reports it ("1.6.20~ds1",
    /// "v2.3.4"); empty when containerd cannot be run.
    public static let version: String = {
        guard let result = try? run([installation + "/containerd", "--version"]), result.status == 0 else { return "" }
        let fields = result.stdoutText.split(separator: " ", omittingEmptySubsequences: true)
        return fields.count >= 3 ? String(fields[2]) : ""
    }()

    /// The major version (1 for Debian's 1.6, 2 for 2.x; 0 when unknown).
    public static let majorVersion: Int = {
        let digits = version.drop { $0 == "v" }.prefix { $0.isNumber }
        return Int(digits) ?? 0
    }()

    /// Flags that make `ctr images import` create the records first and unpack after, client side,
    /// as ctr 1.x does (and kind's nodes did before containerd 2.0): 2.x's ctr goes through the
    /// transfer service unless told `--local`.
    public static var ctrLocalImportFlags: [String] { majorVersion >= 2 ? ["--local"] : [] }

    public let temp: TemporaryDirectory
    public let directory: String
    public let socket: String

    /// - Parameters:
    ///   - cri: keep the CRI plugin (streaming server on 127.0.0.1, CNI dirs in the temp dir).
    ///   - criSnapshotter: the snapshotter CRI uses (implies `cri`); containerd's default
    ///     (overlayfs) when nil.
    public init(cri: Bool = false, criSnapshotter: String? = nil) throws {
        temp = try TemporaryDirectory()
        directory = temp.path("containerd")
        var arguments = [Self.script, "start", directory]
        if cri || criSnapshotter != nil { arguments.append("--cri") }
        if let criSnapshotter { arguments += ["--cri-snapshotter", criSnapshotter] }
        socket = try runChecked(arguments).stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    deinit {
        _ = try? run([Self.script, "stop", directory])
    }

    /// `ctr -n k8s.io ARGS` against this containerd, with the installation's ctr. Read its stdout
    /// only: ctr 2.3 warns on stderr at every call on a cgroup v1 host.
    public func ctr(_ arguments: [String]) throws -> ProcessResult {
        try runChecked([Self.ctrExecutable, "-a", socket, "-n", "k8s.io"] + arguments)
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

    /// SIGKILL, as a crash; returns once it is gone. Its root, state and socket path stay.
    public func crash() throws {
        let text = try String(contentsOfFile: directory + "/containerd.pid", encoding: .utf8)
        guard let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) else { return }
        kill(pid, SIGKILL)
        func gone() -> Bool {
            // A zombie (not yet reaped by whoever adopted it) is gone too.
            guard kill(pid, 0) == 0, let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return true }
            return stat.split(separator: ")").last?.split(separator: " ").first == "Z"
        }
        for _ in 0..<500 where !gone() { usleep(20_000) }
    }

    /// Starts it again on the same root after `crash()`.
    public func restart() throws {
        _ = try runChecked([Self.script, "start", directory])
    }

    /// Leases and their labels, as `ctr leases ls` lists them (one line each).
    public func leases() throws -> [String] {
        try ctr(["leases", "ls"]).stdoutText.split(separator: "\n").dropFirst().map(String.init)
    }

    /// `kind-node-import status ARGS` against this containerd's overlayfs snapshotter.
    public func status(_ arguments: [String]) throws -> ProcessResult {
        try run([builtExecutable, "status", "--address", socket, "--snapshotter", "overlayfs"] + arguments)
    }

    /// What the image prints when run (its Cmd cats /etc/hello.txt). A second run when the
    /// first printed nothing: under heavy load ctr 1.6's `run --rm` was seen (once in many runs)
    /// to lose the output of a process that exits at once.
    /// `snapshotter`: where the image must be unpacked already (kind's config discards the layer
    /// blobs, so ctr could not unpack it anywhere else).
    public func runImage(_ name: String, snapshotter: String = "overlayfs") throws -> String {
        let command = ["run", "--rm", "--snapshotter", snapshotter, name]
        let output = try ctr(command + ["kni-test-\(UUID().uuidString.prefix(8))"]).stdoutText
        if !output.isEmpty { return output }
        return try ctr(command + ["kni-test-\(UUID().uuidString.prefix(8))"]).stdoutText
    }
}
