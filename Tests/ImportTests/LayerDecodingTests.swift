import Foundation
import Testing
import TestSupport

/// The import decodes each layer once, when it applies it (or, for a layer it does not apply,
/// from its spooled copy), and makes its verdict from that: a refused import names what
/// `verify` names, a snapshot is committed only after its own diff_id matched, and a layer
/// whose chain is already committed is still decoded and checked.
@Suite(.serialized) struct LayerDecodingTests {
    /// The problems of a `--json` answer (import's or verify's), as code, layer and found value.
    static func problems(_ output: Data) throws -> [String] {
        let object = try JSONSerialization.jsonObject(with: output) as? [String: Any]
        let problems = object?["problems"] as? [[String: Any]] ?? []
        return problems.map { problem in
            ["code", "image", "layer", "path", "found"].map { "\(problem[$0] ?? "-")" }.joined(separator: " ")
        }.sorted()
    }

    @Test(arguments: [
        "wrong-diffid.tar", "reordered.tar", "corrupt-gzip.tar", "corrupted-blob.tar", "count-mismatch.tar",
        "traversal.tar", "traversal-midpath.tar", "hardlink-escape.tar", "truncated.tar",
        "two-images-one-bad.tar", "docker25-defect-order.tar", "mediatype-mismatch.tar",
    ])
    func aRefusedImportNamesWhatVerifyNames(fixture: String) throws {
        let archive = try Fixtures.path("handmade/" + fixture)
        let verified = try run([builtExecutable, "verify", "--json", archive])
        let expected = try Self.problems(verified.stdout)
        let containerd = try PrivateContainerd()
        let result = try containerd.importArchive(archive, ["--json"])
        #expect(verified.status == 65)
        #expect(!expected.isEmpty)
        #expect(result.status == 65, "\(result.stderr)")
        #expect(try Self.problems(result.stdout) == expected)
        #expect(try containerd.images().isEmpty)
        #expect(try containerd.ctr(["snapshots", "ls"]).stdoutText.split(separator: "\n").count <= 1)
    }

    /// ctr 2.x takes a layer whose chain the node already holds on trust. Here every chain of
    /// `reordered.tar`'s config is committed (by `oci-gzip.tar`, built from the same layers):
    /// the import still decodes each blob and refuses the archive, and the image there stays.
    @Test func aCommittedChainDoesNotExcuseItsLayer() throws {
        let containerd = try PrivateContainerd()
        let good = try containerd.importArchive(try Fixtures.path("handmade/oci-gzip.tar"))
        #expect(good.status == 0, "\(good.stderr)")
        #expect(good.stdoutText.contains("layers unpacked=3 reused=0"), "\(good.stdoutText)")
        let before = try containerd.images()
        let snapshots = try containerd.ctr(["snapshots", "ls"]).stdoutText

        let result = try containerd.importArchive(try Fixtures.path("handmade/reordered.tar"), ["--json"])
        #expect(result.status == 65, "\(result.stderr)")
        let problems = try Self.problems(result.stdout)
        #expect(problems.filter { $0.hasPrefix("diff-id-mismatch") }.count == 2, "\(problems)")
        #expect(try containerd.images() == before)
        #expect(try containerd.ctr(["snapshots", "ls"]).stdoutText == snapshots)
        #expect(try containerd.leases().isEmpty)
    }

    /// A layer that does not decompress to its diff_id is applied into a prepared snapshot that
    /// is removed, never committed; the layers below it, committed under the lease, go with it.
    @Test func aLayerIsCommittedOnlyOnceItsDiffIDMatched() throws {
        let containerd = try PrivateContainerd()
        let result = try containerd.importArchive(try Fixtures.path("handmade/wrong-diffid.tar"))
        #expect(result.status == 65, "\(result.stderr)")
        #expect(result.stderr.contains("rootfs.diff_ids[1]"), "\(result.stderr)")
        #expect(try containerd.ctr(["snapshots", "ls"]).stdoutText.split(separator: "\n").count <= 1)
        #expect(try containerd.contentDigests().isEmpty)
        #expect(try containerd.leases().isEmpty)
    }
}
