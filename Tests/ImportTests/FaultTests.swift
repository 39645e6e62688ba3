import Foundation
import Testing
import TestSupport

@testable import Import

/// Faults a node really meets, against a real containerd (docs/reliability.md). After each: the
/// exit code names the cause, no new image record, the tag's earlier target unchanged, the spool
/// removed, the import's lease gone or expiring, and a plain rerun succeeds and the image runs.
/// `KNI_FAILPOINT=PHASE:FILE` stops the import at PHASE until FILE is removed.
@Suite(.serialized, .enabled(if: getuid() == 0, "needs root to run containerd"))
struct FaultTests {
    static let name = "docker.io/kni/sample:v1"

    /// A containerd where the tag the faulted import claims already points at another image.
    struct Node {
        let containerd: PrivateContainerd
        let temp: TemporaryDirectory
        let spool: String
        let earlier: String

        init() throws {
            containerd = try PrivateContainerd()
            temp = try TemporaryDirectory()
            spool = temp.path("spool")
            try FileManager.default.createDirectory(atPath: spool, withIntermediateDirectories: true)
            let older = temp.path("older.tar")
            try Fixtures.makeImage(at: older, name: FaultTests.name, layers: #"[[{"name": "etc/older.txt", "data": "an earlier build"}]]"#)
            #expect(try containerd.importArchive(older).status == 0)
            earlier = try #require(try containerd.images()[FaultTests.name])
        }

        func importer(_ archive: String, failpoint: String? = nil, marker: String = "") throws -> BackgroundProcess {
            try BackgroundProcess(
                [
                    builtExecutable, "import", "--address", containerd.socket, "--snapshotter=overlayfs",
                    "--spool-directory", spool, archive,
                ], environment: failpoint.map { ["KNI_FAILPOINT": "\($0):\(marker)"] } ?? [:])
        }

        /// Nothing new, nothing damaged, nothing left but an expiring lease.
        func expectUndamaged(_ what: String) throws {
            #expect(try containerd.images() == [FaultTests.name: earlier], "\(what): the records changed")
            #expect(try FileManager.default.contentsOfDirectory(atPath: spool).isEmpty, "\(what): the spool is left")
            for lease in try containerd.leases() {
                #expect(lease.contains("containerd.io/gc.expire="), "\(what): a lease that never expires: \(lease)")
            }
        }

        func expectRerunSucceeds(_ what: String) throws {
            let rerun = try containerd.importArchive(try Fixtures.path("real/docker-archive.tar"))
            #expect(rerun.status == 0, "\(what): the rerun failed: \(rerun.stderr)")
            #expect(try containerd.images()[FaultTests.name] != earlier)
            #expect(try containerd.runImage(FaultTests.name) == "hello from kind-node-import\n")
        }
    }

    /// containerd dies (SIGKILL) while the import stores content, unpacks, or is about to write
    /// the records; it is restarted once the import has given up.
    @Test(arguments: ["content", "unpack", "records"])
    func containerdKilled(at phase: String) throws {
        let node = try Node()
        let marker = node.temp.path("failpoint")
        let importer = try node.importer(try Fixtures.path("real/docker-archive.tar"), failpoint: phase, marker: marker)
        try #require(waitForFile(marker), "the import never reached \(phase)")
        try node.containerd.crash()
        try FileManager.default.removeItem(atPath: marker)
        let result = try importer.wait()
        #expect(result.status == 69, "\(result.stderr)")
        #expect(result.stderr.contains("nothing was committed"), "\(result.stderr)")
        try node.containerd.restart()
        try node.expectUndamaged("containerd killed at \(phase)")
        try node.expectRerunSucceeds("containerd killed at \(phase)")
    }

    /// SIGTERM and SIGINT (kind-load's TERM, a Ctrl-C) just before the records, while unpacking,
    /// and during a large import: the lease is deleted at once, exit 143 or 130.
    @Test(arguments: [("records", SIGTERM, 143), ("unpack", SIGINT, 130), ("content", SIGTERM, 143)])
    func signalsDeleteTheLeaseAtOnce(phase: String, signal: Int32, status: Int32) throws {
        let node = try Node()
        let marker = node.temp.path("failpoint")
        let importer = try node.importer(try Fixtures.path("real/docker-archive.tar"), failpoint: phase, marker: marker)
        try #require(waitForFile(marker), "the import never reached \(phase)")
        #expect(try node.containerd.leases().contains { $0.hasPrefix("kind-node-import-") })
        kill(importer.pid, signal)
        let result = try importer.wait()
        #expect(result.status == status, "\(result.stderr)")
        #expect(result.stderr.contains("import interrupted by SIG"), "\(result.stderr)")
        #expect(result.stderr.contains("nothing was committed; its lease is deleted"), "\(result.stderr)")
        #expect(try node.containerd.leases().isEmpty, "the lease must be gone at once, not when it expires")
        try node.expectUndamaged("signal \(signal) at \(phase)")
        try node.expectRerunSucceeds("signal \(signal) at \(phase)")
    }

    /// The archive stream ends early, at 20 random offsets: refused (65), nothing kept.
    @Test func aCutStreamIsRefusedAndLeavesNothing() throws {
        let node = try Node()
        let archive = try Fixtures.path("real/docker-archive.tar")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: archive))
        // Below the last 11,000 bytes (end-of-archive blocks and record padding): every cut loses data.
        let offsets = (0..<20).map { _ in Int.random(in: 1..<(bytes.count - 11_000)) }.sorted()
        for offset in offsets {
            let cut = node.temp.path("cut-\(offset).tar")
            try bytes.prefix(offset).write(to: URL(fileURLWithPath: cut))
            let result = try node.containerd.importArchive(cut, ["--spool-directory", node.spool])
            #expect(result.status == 65, "cut at \(offset) of \(bytes.count): \(result.stderr)")
            #expect(result.stderr.contains("refused, nothing was imported"), "cut at \(offset): \(result.stderr)")
            try node.expectUndamaged("cut at \(offset)")
            #expect(try node.containerd.leases().isEmpty, "cut at \(offset): a refused import deletes its lease")
        }
        try node.expectRerunSucceeds("after 20 cuts")
    }

    /// Eight imports into one node at once: the same image twice each, of four images that share
    /// their layers' contents (the same snapshots) but not their blobs.
    @Test func eightConcurrentImportsAllSucceed() throws {
        let containerd = try PrivateContainerd()
        let fixtures = [
            ("real/oci-gzip.tar", "docker.io/kni/sample:gzip"), ("real/oci-zstd.tar", "docker.io/kni/sample:zstd"),
            ("real/oci-uncompressed.tar", "docker.io/kni/sample:uncompressed"),
            ("real/docker-archive.tar", "docker.io/kni/sample:v1"),
        ]
        let importers = try (fixtures + fixtures).map { fixture, _ in
            try BackgroundProcess([
                builtExecutable, "import", "--address", containerd.socket, "--snapshotter=overlayfs",
                try Fixtures.path(fixture),
            ])
        }
        for (importer, (fixture, _)) in zip(importers, fixtures + fixtures) {
            let result = try importer.wait()
            #expect(result.status == 0, "\(fixture): \(result.stderr)")
        }
        for (_, name) in fixtures {
            #expect(try containerd.runImage(name) == "hello from kind-node-import\n", "\(name)")
        }
        #expect(try containerd.leases().isEmpty)
    }

    /// containerd killed in the middle of an overlayfs Prepare can leave the directory of its
    /// next snapshot id on disk, unrecorded: every later Prepare picks that id and fails
    /// ("failed to rename … file exists"). Made here by hand (a fresh containerd's first snapshot
    /// gets id 1): the import removes that directory and succeeds.
    @Test func aSnapshotDirectoryACrashLeftIsRemoved() throws {
        let containerd = try PrivateContainerd()
        let orphan = containerd.directory + "/root/io.containerd.snapshotter.v1.overlayfs/snapshots/1"
        try FileManager.default.createDirectory(atPath: orphan + "/fs", withIntermediateDirectories: true)
        let result = try containerd.importArchive(try Fixtures.path("real/oci-gzip.tar"))
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try containerd.runImage("docker.io/kni/sample:gzip") == "hello from kind-node-import\n")
    }

    @Test func onlyAnOverlayfsRenameClashNamesADirectory() {
        let root = "/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots"
        #expect(
            UnpackPhase.unrecordedSnapshotDirectory(in: "failed to rename: rename \(root)/new-1883077021 \(root)/2: file exists") == "\(root)/2")
        #expect(UnpackPhase.unrecordedSnapshotDirectory(in: "failed to rename: rename \(root)/new-1 \(root)/x2: file exists") == nil)
        #expect(UnpackPhase.unrecordedSnapshotDirectory(in: "failed to rename: rename /a/new-1 /b/2: file exists") == nil)
        #expect(UnpackPhase.unrecordedSnapshotDirectory(in: "failed to rename: rename \(root)/1 \(root)/2: file exists") == nil)
        #expect(UnpackPhase.unrecordedSnapshotDirectory(in: "snapshot already exists") == nil)
    }
}
