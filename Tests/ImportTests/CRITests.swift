import ContainerdAPI
import Foundation
import Import
import Testing
import TestSupport

/// What the node's CRI uses and sees, against a private containerd with its CRI plugin on:
/// `--snapshotter auto` asks CRI, `status --cri` prints kubelet's view beside ours.
@Suite(.serialized, .enabled(if: getuid() == 0, "needs root to run containerd")) struct CRITests {
    /// CRI snapshotters a private containerd is started with here (kind rewrites overlayfs to
    /// native on ZFS hosts).
    static let criSnapshotters = ["overlayfs", "native"]

    func criContainerd(_ snapshotter: String) throws -> PrivateContainerd {
        try PrivateContainerd(cri: true, criSnapshotter: snapshotter)
    }

    /// A config file naming `snapshotter` as kind's does.
    func config(naming snapshotter: String, in temp: TemporaryDirectory) throws -> String {
        let path = temp.path("config-\(snapshotter).toml")
        try NodeSnapshotterTests.kindConfig(snapshotter: snapshotter).write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func detect(_ socket: String, _ requested: String = "auto", configPath: String) async throws -> NodeSnapshotter.Detection {
        try await ContainerdConnection.withConnection(socket: socket, namespace: "k8s.io") { connection in
            try await NodeSnapshotter.detect(requested, configPath: configPath, containerd: connection)
        }
    }

    /// Snapshot names (chain IDs and keys) in one snapshotter of the containerd at `socket`.
    static func snapshots(_ socket: String, _ snapshotter: String) throws -> [String] {
        try runChecked([PrivateContainerd.ctrExecutable, "-a", socket, "-n", "k8s.io", "snapshots", "--snapshotter", snapshotter, "ls"]).stdoutText
            .split(separator: "\n").dropFirst().map { String($0.split(separator: " ")[0]) }
    }

    /// Blocking work (processes) on a Dispatch thread. The async tests here leave Swift
    /// concurrency's shared threads (two on a 2-core machine, where the synchronous tests of
    /// other suites also run) to the gRPC calls.
    func offPool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(with: Result { try work() }) }
        }
    }

    /// A value handed from a Dispatch thread to the test that owns it.
    struct Handed<Value>: @unchecked Sendable { var value: Value }

    // MARK: --snapshotter auto

    /// auto asks the daemon: CRI's image filesystem, not the config file (which names another).
    @Test(arguments: criSnapshotters) func autoAsksCRIWhichSnapshotterItUses(snapshotter: String) async throws {
        let containerd = try await offPool { Handed(value: try self.criContainerd(snapshotter)) }.value
        let socket = containerd.socket
        let temp = try TemporaryDirectory()
        let other = snapshotter == "native" ? "overlayfs" : "native"
        let misleading = try config(naming: other, in: temp)
        let detection = try await detect(socket, configPath: misleading)
        #expect(detection.name == snapshotter)
        #expect(detection.source.hasPrefix("CRI's image filesystem /"))
        #expect(detection.source.hasSuffix("/root/io.containerd.snapshotter.v1.\(snapshotter)"), "\(detection.source)")

        // An import and status without --snapshotter use it.
        let archive = try Fixtures.path("real/oci-gzip.tar")
        let (imported, ours, theirs, status) = try await offPool {
            (
                try run([builtExecutable, "import", "--address", socket, "--containerd-config", misleading, "-"], stdinFile: archive),
                try Self.snapshots(socket, snapshotter), try Self.snapshots(socket, other),
                try run([builtExecutable, "status", "--address", socket, "--containerd-config", misleading, "kni/sample:gzip"])
            )
        }
        #expect(imported.status == 0, "\(imported.stderr)")
        #expect(ours.count == 4 && theirs.isEmpty, "\(snapshotter): \(ours), \(other): \(theirs)")
        #expect(status.status == 0, "\(status.stdoutText)\(status.stderr)")
    }

    /// Without CRI, the config file decides (a missing one means overlayfs), and a snapshotter
    /// containerd has not loaded is an error that names it.
    @Test func withoutCRITheConfigFileDecides() async throws {
        let containerd = try await offPool { Handed(value: try PrivateContainerd()) }.value
        let socket = containerd.socket
        let temp = try TemporaryDirectory()
        let native = try config(naming: "native", in: temp)
        let detection = try await detect(socket, configPath: native)
        #expect(detection.name == "native")
        #expect(detection.source == "containerd's config \(native) (version 2) (containerd runs without CRI)")
        #expect(try await detect(socket, configPath: temp.path("missing.toml")).name == "overlayfs")

        let archive = try Fixtures.path("real/oci-zstd.tar")
        let (imported, nativeSnapshots, overlaySnapshots) = try await offPool {
            (
                try run([builtExecutable, "import", "--address", socket, "--containerd-config", native, "-"], stdinFile: archive),
                try Self.snapshots(socket, "native"), try Self.snapshots(socket, "overlayfs")
            )
        }
        #expect(imported.status == 0, "\(imported.stderr)")
        #expect(nativeSnapshots.count == 4 && overlaySnapshots.isEmpty)
        let ran = try await offPool { [containerd = Handed(value: containerd)] in
            try containerd.value.runImage("docker.io/kni/sample:zstd", snapshotter: "native")
        }
        #expect(ran == "hello from kind-node-import\n")
        // The config is kind's: discard_unpacked_layers, so no layer blob was kept.
        #expect(imported.stderr.contains("layer blobs not kept"), "\(imported.stderr)")

        // zfs is disabled in the private containerd: not loaded.
        let zfs = try config(naming: "zfs", in: temp)
        await #expect {
            _ = try await detect(socket, configPath: zfs)
        } throws: { error in
            "\(error)".contains("containerd's config \(zfs) (version 2) names snapshotter zfs, which containerd has not loaded (loaded: ")
        }
        let gzip = try Fixtures.path("real/oci-gzip.tar")
        let unparseable = temp.path("broken.toml")
        try "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd\n".write(toFile: unparseable, atomically: true, encoding: .utf8)
        let (refusedImport, refusedStatus, broken) = try await offPool {
            (
                try run([builtExecutable, "import", "--address", socket, "--containerd-config", zfs, gzip]),
                try run([builtExecutable, "status", "--address", socket, "--containerd-config", zfs, "kni/sample:zstd"]),
                try run([builtExecutable, "status", "--address", socket, "--containerd-config", unparseable, "x"])
            )
        }
        for refused in [refusedImport, refusedStatus] {
            #expect(refused.status == 69, "\(refused.stderr)")
            #expect(refused.stderr.contains("cannot tell which snapshotter CRI uses"), "\(refused.stderr)")
            #expect(refused.stderr.contains("names snapshotter zfs, which containerd has not loaded"), "\(refused.stderr)")
        }
        #expect(broken.status == 69)
        #expect(broken.stderr.contains("containerd's config \(unparseable): not valid TOML at line 2"), "\(broken.stderr)")
    }

    @Test func anExplicitSnapshotterMustBeLoaded() throws {
        let containerd = try PrivateContainerd()
        for command in ["import", "status"] {
            let refused = try run(
                [builtExecutable, command, "--address", containerd.socket, "--snapshotter", "zfs"]
                    + (command == "import" ? [try Fixtures.path("real/oci-gzip.tar")] : ["kni/sample:gzip"]))
            #expect(refused.status == 69, "\(command): \(refused.stderr)")
            #expect(refused.stderr.contains("--snapshotter names snapshotter zfs, which containerd has not loaded"), "\(refused.stderr)")
        }
        #expect(try containerd.images().isEmpty)
        let native = try run([builtExecutable, "status", "--address", containerd.socket, "--snapshotter", "native", "kni/sample:gzip"])
        #expect(native.status == 1 && native.stdoutText.hasPrefix("missing  kni/sample:gzip"), "\(native.stderr)")
    }

    // MARK: status --cri

    struct Entry: Decodable {
        struct CRI: Decodable {
            struct Image: Decodable {
                var id: String
                var repoTags: [String]
            }
            var known: Bool
            var image: Image?
            var warning: String?
        }
        var query: String
        var present: Bool
        var config: String?
        var cri: CRI
    }

    /// `status --cri --json IMAGE`, asked again until CRI knows the image (CRI learns of
    /// records from containerd's events, a moment after they are written).
    func criStatus(_ containerd: PrivateContainerd, _ image: String) throws -> (ProcessResult, Entry) {
        for _ in 0..<50 {
            let result = try run([builtExecutable, "status", "--address", containerd.socket, "--cri", "--json", image])
            let entries = try JSONDecoder().decode([Entry].self, from: result.stdout)
            if entries.first?.cri.known == true { return (result, entries[0]) }
            usleep(100_000)
        }
        let result = try run([builtExecutable, "status", "--address", containerd.socket, "--cri", "--json", image])
        return (result, try JSONDecoder().decode([Entry].self, from: result.stdout)[0])
    }

    @Test func criKnowsAGoodImportByItsConfigDigest() throws {
        let containerd = try PrivateContainerd(cri: true)
        #expect(try containerd.importArchive(try Fixtures.path("real/oci-gzip.tar")).status == 0)
        let (result, entry) = try criStatus(containerd, "kni/sample:gzip")
        #expect(result.status == 0, "\(result.stderr)")
        #expect(entry.present && entry.cri.known)
        #expect(entry.cri.image?.id == entry.config && entry.config?.hasPrefix("sha256:") == true)
        #expect(entry.cri.image?.repoTags.contains("docker.io/kni/sample:gzip") == true)
        #expect(entry.cri.warning == nil)

        let text = try run([builtExecutable, "status", "--address", containerd.socket, "--cri", "kni/sample:gzip", "kni/absent:v1"])
        #expect(text.status == 1)
        let lines = text.stdoutText.split(separator: "\n").map(String.init)
        #expect(lines.count == 4, "\(text.stdoutText)")
        #expect(lines[0].hasPrefix("present  kni/sample:gzip"))
        #expect(lines[1] == "         CRI: knows it  id=\(entry.config ?? "")  tags=docker.io/kni/sample:gzip")
        #expect(lines[2].hasPrefix("missing  kni/absent:v1"))
        #expect(lines[3] == "         CRI: does not know it")
        #expect(!text.stderr.contains("warning"))
    }

    /// The record `ctr images import` leaves when the unpack of a Docker 25.0.0-style archive
    /// fails: CRI reports the image (kubelet: "already present on machine"), our check says it
    /// is not complete, and status says what will happen.
    @Test func ctrsLeftoverIsKnownToCRIAndCalledOut() throws {
        let containerd = try PrivateContainerd(cri: true)
        let archive = try Fixtures.path("handmade/docker25-defect-count.tar")
        // ctr 2.x imports through the transfer service (no record on failure); --local is 1.x's path.
        let ctr = try run(
            [PrivateContainerd.ctrExecutable, "-a", containerd.socket, "-n", "k8s.io", "images", "import", "--all-platforms"]
                + PrivateContainerd.ctrLocalImportFlags + ["-"],
            stdinFile: archive)
        #expect(ctr.status != 0, "ctr imported it: \(ctr.stdoutText)")
        let name = "docker.io/kni/docker25-defect-count:v1"
        #expect(try containerd.images().keys.contains(name), "ctr left no record")

        let (result, entry) = try criStatus(containerd, "kni/docker25-defect-count:v1")
        #expect(result.status == 1)
        #expect(!entry.present && entry.cri.known)
        #expect(entry.cri.image?.repoTags.contains(name) == true)
        let warning = try #require(entry.cri.warning)
        #expect(warning.contains("already present on machine"))
        #expect(warning.contains("fail to start"))
        #expect(warning.contains("mismatched image rootfs and manifest layers"))

        let text = try run([builtExecutable, "status", "--address", containerd.socket, "--cri", "kni/docker25-defect-count:v1"])
        #expect(text.status == 1)
        #expect(text.stdoutText.hasPrefix("missing  kni/docker25-defect-count:v1: "), "\(text.stdoutText)")
        #expect(text.stdoutText.contains("\n         CRI: knows it  id=sha256:"))
        #expect(text.stderr.contains("warning: CRI reports kni/docker25-defect-count:v1 as present"), "\(text.stderr)")
        #expect(text.stderr.contains("pods using it will fail to start"))
        #expect(text.stderr.contains("ctr -n k8s.io images rm \(name)"))
    }

    @Test func criMissingOrAnotherNamespaceIsSaid() throws {
        let containerd = try PrivateContainerd()
        let result = try run([builtExecutable, "status", "--address", containerd.socket, "--snapshotter", "overlayfs", "--cri", "x"])
        #expect(result.status == 69)
        #expect(result.stderr.contains("runs without CRI"), "\(result.stderr)")
        let namespace = try run([builtExecutable, "status", "--address", containerd.socket, "--namespace", "default", "--cri", "x"])
        #expect(namespace.status == 64)
        #expect(namespace.stderr.contains("namespace k8s.io only"))
        let unreachable = try run([builtExecutable, "status", "--address", "/nonexistent.sock", "--cri", "x"])
        #expect(unreachable.status == 69)
        #expect(unreachable.stderr.contains("/nonexistent.sock"))
    }
}
