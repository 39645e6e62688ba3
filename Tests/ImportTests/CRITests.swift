import ContainerdAPI
import Foundation
import Import
import Testing
import TestSupport

/// What the node's CRI uses and sees, against a private containerd with its CRI plugin on:
/// `--snapshotter auto` asks CRI.
@Suite(.serialized, .enabled(if: getuid() == 0, "needs root to run containerd")) struct CRITests {
    /// CRI snapshotters a private containerd is started with here. When PrivateContainerd takes
    /// `criSnapshotter:`, add "native" and pass it on in `criContainerd`.
    static let criSnapshotters = ["overlayfs"]

    func criContainerd(_ snapshotter: String) throws -> PrivateContainerd {
        try #require(snapshotter == "overlayfs", "PrivateContainerd starts CRI with its default snapshotter only")
        return try PrivateContainerd(cri: true)
    }

    /// A config file naming `snapshotter` as kind's does.
    func config(naming snapshotter: String, in temp: TemporaryDirectory) throws -> String {
        let path = temp.path("config-\(snapshotter).toml")
        try NodeSnapshotterTests.kindConfig(snapshotter: snapshotter).write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func detect(_ containerd: PrivateContainerd, _ requested: String = "auto", configPath: String) async throws
        -> NodeSnapshotter.Detection
    {
        try await ContainerdConnection.withConnection(socket: containerd.socket, namespace: "k8s.io") { connection in
            try await NodeSnapshotter.detect(requested, configPath: configPath, containerd: connection)
        }
    }

    /// Snapshot names (chain IDs and keys) in one snapshotter of `containerd`.
    func snapshots(_ containerd: PrivateContainerd, _ snapshotter: String) throws -> [String] {
        try containerd.ctr(["snapshots", "--snapshotter", snapshotter, "ls"]).stdoutText.split(separator: "\n").dropFirst()
            .map { String($0.split(separator: " ")[0]) }
    }

    // MARK: --snapshotter auto

    /// auto asks the daemon: CRI's image filesystem, not the config file (which names another).
    @Test(arguments: criSnapshotters) func autoAsksCRIWhichSnapshotterItUses(snapshotter: String) async throws {
        let containerd = try criContainerd(snapshotter)
        let temp = try TemporaryDirectory()
        let misleading = try config(naming: snapshotter == "native" ? "overlayfs" : "native", in: temp)
        let detection = try await detect(containerd, configPath: misleading)
        #expect(detection.name == snapshotter)
        #expect(detection.source.hasPrefix("CRI's image filesystem /"))
        #expect(detection.source.hasSuffix("/root/io.containerd.snapshotter.v1.\(snapshotter)"), "\(detection.source)")

        // An import and status without --snapshotter use it.
        let archive = try Fixtures.path("real/oci-gzip.tar")
        let imported = try run(
            [builtExecutable, "import", "--address", containerd.socket, "--containerd-config", misleading, "-"], stdinFile: archive)
        #expect(imported.status == 0, "\(imported.stderr)")
        #expect(try snapshots(containerd, snapshotter).count == 4)
        #expect(try snapshots(containerd, snapshotter == "native" ? "overlayfs" : "native").isEmpty)
        let status = try run(
            [builtExecutable, "status", "--address", containerd.socket, "--containerd-config", misleading, "kni/sample:gzip"])
        #expect(status.status == 0, "\(status.stdoutText)\(status.stderr)")
    }

    /// Without CRI, the config file decides (a missing one means overlayfs), and a snapshotter
    /// containerd has not loaded is an error that names it.
    @Test func withoutCRITheConfigFileDecides() async throws {
        let containerd = try PrivateContainerd()
        let temp = try TemporaryDirectory()
        let native = try config(naming: "native", in: temp)
        let detection = try await detect(containerd, configPath: native)
        #expect(detection.name == "native")
        #expect(detection.source == "containerd's config \(native) (version 2) (containerd runs without CRI)")
        #expect(try await detect(containerd, configPath: temp.path("missing.toml")).name == "overlayfs")

        let imported = try run(
            [builtExecutable, "import", "--address", containerd.socket, "--containerd-config", native, "-"],
            stdinFile: try Fixtures.path("real/oci-zstd.tar"))
        #expect(imported.status == 0, "\(imported.stderr)")
        #expect(try snapshots(containerd, "native").count == 4)
        #expect(try snapshots(containerd, "overlayfs").isEmpty)
        #expect(try containerd.runImage("docker.io/kni/sample:zstd") == "hello from kind-node-import\n")

        // zfs is disabled in the private containerd: not loaded.
        let zfs = try config(naming: "zfs", in: temp)
        await #expect {
            _ = try await detect(containerd, configPath: zfs)
        } throws: { error in
            "\(error)".contains("containerd's config \(zfs) (version 2) names snapshotter zfs, which containerd has not loaded (loaded: ")
        }
        for command in ["import", "status"] {
            let refused = try run(
                [builtExecutable, command, "--address", containerd.socket, "--containerd-config", zfs]
                    + (command == "import" ? [try Fixtures.path("real/oci-gzip.tar")] : ["kni/sample:zstd"]))
            #expect(refused.status == 69, "\(command): \(refused.stderr)")
            #expect(refused.stderr.contains("cannot tell which snapshotter CRI uses"), "\(refused.stderr)")
            #expect(refused.stderr.contains("names snapshotter zfs, which containerd has not loaded"), "\(refused.stderr)")
        }
        let unparseable = temp.path("broken.toml")
        try "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd\n".write(toFile: unparseable, atomically: true, encoding: .utf8)
        let broken = try run([builtExecutable, "status", "--address", containerd.socket, "--containerd-config", unparseable, "x"])
        #expect(broken.status == 69)
        #expect(broken.stderr.contains("containerd's config \(unparseable): not valid TOML at line 2"), "\(broken.stderr)")
    }

    @Test func anExplicitSnapshotterMustBeLoaded() async throws {
        let containerd = try PrivateContainerd()
        #expect(try await detect(containerd, "native", configPath: "/nonexistent").name == "native")
        for command in ["import", "status"] {
            let refused = try run(
                [builtExecutable, command, "--address", containerd.socket, "--snapshotter", "zfs"]
                    + (command == "import" ? [try Fixtures.path("real/oci-gzip.tar")] : ["kni/sample:gzip"]))
            #expect(refused.status == 69, "\(command): \(refused.stderr)")
            #expect(refused.stderr.contains("--snapshotter names snapshotter zfs, which containerd has not loaded"), "\(refused.stderr)")
        }
        #expect(try containerd.images().isEmpty)
    }
}
