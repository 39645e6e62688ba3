import Foundation
import Testing
import TestSupport

/// Nothing is committed before it is checked (issue 12): every blob stays an uncommitted ingest
/// (`ctr content active`) until the whole archive has verified, a snapshot is committed only
/// once its own layer matched its diff_id, and a refused archive leaves no ingest, no blob and no
/// snapshot, at once. Seen from outside, with ctr, while the import waits at its verdict.
@Suite(.serialized, .enabled(if: getuid() == 0, "needs root to run containerd"))
struct CommitOrderTests {
    /// An import of `fixture` into a fresh containerd (layer blobs kept, so every blob is sent),
    /// held just before its verdict.
    struct HeldImport {
        let containerd: PrivateContainerd
        let temp: TemporaryDirectory
        let importer: BackgroundProcess
        let marker: String

        init(_ fixture: String) throws {
            containerd = try PrivateContainerd()
            temp = try TemporaryDirectory()
            marker = temp.path("failpoint")
            let spool = temp.path("spool")
            try FileManager.default.createDirectory(atPath: spool, withIntermediateDirectories: true)
            importer = try BackgroundProcess(
                [
                    builtExecutable, "import", "--address", containerd.socket, "--snapshotter=overlayfs", "--keep-layers",
                    "--spool-directory", spool, try Fixtures.path(fixture),
                ], environment: ["KNI_FAILPOINT": "verdict:\(marker)"])
            try #require(waitForFile(marker), "the import never reached its verdict")
        }

        /// The ingests containerd holds (`ctr content active`), by ref.
        func ingests() throws -> [String] {
            try containerd.ctr(["content", "active"]).stdoutText.split(separator: "\n").dropFirst()
                .compactMap { $0.split(separator: " ", omittingEmptySubsequences: true).first.map(String.init) }
        }

        /// Committed snapshots of the overlayfs snapshotter (`ctr snapshots ls`), by name.
        func snapshots() throws -> [String] {
            try containerd.ctr(["snapshots", "--snapshotter", "overlayfs", "ls"]).stdoutText.split(separator: "\n")
                .dropFirst().compactMap { $0.split(separator: " ", omittingEmptySubsequences: true).first.map(String.init) }
        }

        func release() throws -> ProcessResult {
            try FileManager.default.removeItem(atPath: marker)
            return try importer.wait()
        }
    }

    @Test func blobsAreUncommittedIngestsUntilTheVerdict() throws {
        let held = try HeldImport("real/docker-archive.tar")
        #expect(try held.containerd.contentDigests().isEmpty, "a blob was committed before the verdict")
        // Two layers and the config, each in an ingest of its own.
        // Every blob in an ingest of its own, named after its digest.
        let ingested = Set(
            try held.ingests().filter { $0.hasPrefix("kind-node-import-") }
                .map { "sha256:" + $0.dropFirst("kind-node-import-".count).prefix(64) })
        let layers = try DiscardLayersTests.layerDigests(try Fixtures.path("real/docker-archive.tar"))
        #expect(layers.isSubset(of: ingested), "\(ingested)")
        // The layers matched their diff_ids: their snapshots are committed, under the lease.
        let snapshots = try held.snapshots()
        #expect(snapshots.count == layers.count, "\(snapshots)")
        #expect(try held.containerd.images().isEmpty)

        let result = try held.release()
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try held.ingests().isEmpty, "an ingest is left after the commit")
        // What was held is what is committed: the layers, the config and the manifest ctr would write.
        #expect(try held.containerd.contentDigests() == ingested)
        #expect(try held.containerd.runImage("docker.io/kni/sample:v1") == "hello from kind-node-import\n")
    }

    /// Layer 2 of 3 decompresses to another diff_id than the config's: found while unpacking.
    @Test func aRefusedArchiveLeavesNoIngestNoBlobNoSnapshot() throws {
        let held = try HeldImport("handmade/wrong-diffid.tar")
        #expect(try held.containerd.contentDigests().isEmpty, "a blob was committed before the verdict")
        #expect(try !held.ingests().isEmpty)
        // Layer 1 matched (committed, leased); layer 2 did not, so neither it nor layer 3 is.
        #expect(try held.snapshots().count == 1)

        let result = try held.release()
        #expect(result.status == 65, "\(result.stderr)")
        #expect(result.stderr.contains("diff_id"), "\(result.stderr)")
        // At once, not when a lease expires.
        #expect(try held.ingests().isEmpty, "an ingest is left")
        #expect(try held.containerd.contentDigests().isEmpty, "a blob is left")
        #expect(try held.snapshots().isEmpty, "a snapshot is left")
        #expect(try held.containerd.leases().isEmpty, "the lease is left")
        #expect(try held.containerd.images().isEmpty)
    }
}
