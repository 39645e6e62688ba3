import Foundation
import Testing
import TestSupport

/// A full disk is this machine's fault, not the archive's: exit 74, the path and errno's words,
/// and nothing committed. Each test mounts a small tmpfs where the bytes go.
@Suite(.serialized, .enabled(if: getuid() == 0, "needs root to mount a tmpfs and run containerd"))
struct FullDiskTests {
    /// A tmpfs of `size` mounted at `path` (created) while `body` runs.
    func withSmallFilesystem<T>(at path: String, size: String, _ body: () throws -> T) throws -> T {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        try runChecked(["mount", "-t", "tmpfs", "-o", "size=\(size)", "kni-full-disk", path])
        defer { _ = try? run(["umount", path]) }
        return try body()
    }

    /// An OCI archive of one uncompressed 8 MB layer.
    func bigImage(in temp: TemporaryDirectory) throws -> String {
        let archive = temp.path("big.tar")
        try Fixtures.makeImage(at: archive, name: "docker.io/kni/full-disk:v1", layers: #"[[{"name": "etc/big.txt", "size": 8000000}]]"#)
        return archive
    }

    func expectNothingCommitted(_ containerd: PrivateContainerd) throws {
        #expect(try containerd.images().isEmpty)
        #expect(try containerd.ctr(["leases", "ls", "-q"]).stdoutText.isEmpty)
        #expect(try containerd.contentDigests().isEmpty)
        #expect(try containerd.ctr(["snapshots", "ls"]).stdoutText.split(separator: "\n").count <= 1)
    }

    /// The layer is applied into the snapshot's directory, which is full: the applier's write
    /// fails with ENOSPC, and the import says so (it used to be "import refused", exit 65).
    @Test func unpackingOntoAFullDiskExits74NamingTheFileAndErrno() throws {
        let temp = try TemporaryDirectory()
        let archive = try bigImage(in: temp)
        let containerd = try PrivateContainerd()
        let snapshots = containerd.directory + "/root/io.containerd.snapshotter.v1.overlayfs/snapshots"
        let result = try withSmallFilesystem(at: snapshots, size: "2m") {
            try containerd.importArchive(archive, ["--spool-directory", temp.path("")])
        }
        #expect(result.status == 74, "\(result.stderr)")
        #expect(result.stderr.contains("import failed on this machine, nothing was committed"), "\(result.stderr)")
        #expect(result.stderr.contains("docker.io/kni/full-disk:v1: layer 1 sha256:"), "\(result.stderr)")
        #expect(result.stderr.contains(snapshots + "/"), "\(result.stderr)")
        #expect(result.stderr.contains("No space left on device (ENOSPC)"), "\(result.stderr)")
        try expectNothingCommitted(containerd)
    }

    /// The spool (a copy of the archive while it is verified) is on a full disk.
    @Test func spoolingOntoAFullDiskExits74NamingTheSpool() throws {
        let temp = try TemporaryDirectory()
        let archive = try bigImage(in: temp)
        let containerd = try PrivateContainerd()
        let spool = temp.path("spool")
        let result = try withSmallFilesystem(at: spool, size: "2m") {
            try containerd.importArchive(archive, ["--spool-directory", spool])
        }
        #expect(result.status == 74, "\(result.stderr)")
        #expect(result.stderr.contains("write \(spool)/kni-spool-"), "\(result.stderr)")
        #expect(result.stderr.contains("No space left on device (ENOSPC)"), "\(result.stderr)")
        try expectNothingCommitted(containerd)
    }

    /// `apply-layer` into a full directory.
    @Test func applyingALayerOntoAFullDiskExits74() throws {
        let temp = try TemporaryDirectory()
        let layer = temp.path("layer.tar")
        try runChecked([
            "python3", packageRoot.appendingPathComponent("Fixtures/tar-from-spec.py").path, layer,
            #"[{"name": "big.txt", "size": 8000000}]"#,
        ])
        let target = temp.path("target")
        let result = try withSmallFilesystem(at: target, size: "1m") {
            try run([builtExecutable, "apply-layer", layer, target])
        }
        #expect(result.status == 74, "\(result.stderr)")
        #expect(result.stderr.contains("entry \"big.txt\": write \(target)/big.txt: No space left on device (ENOSPC)"), "\(result.stderr)")
    }
}
