import Foundation
import Testing
import TestSupport

/// A cheap reload (issue 12): a layer this tool unpacked into the node before is hashed but not
/// spooled nor decompressed again; an image that stacks the same blob on other layers reads it
/// back from the content store, or, where layer blobs are not kept, stops with 75 and imports
/// with --spool-all.
@Suite(.serialized, .enabled(if: getuid() == 0, "needs root to run containerd"))
struct KnownLayersTests {
    /// `import --json`'s summary.
    static func summary(_ result: ProcessResult) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: result.stdout) as? [String: Any])
    }

    @Test(arguments: ["--keep-layers", "--discard-layers"])
    func anUnchangedReloadOnlyHashesTheLayers(layers: String) throws {
        let containerd = try PrivateContainerd()
        let archive = try Fixtures.path("real/oci-gzip.tar")
        let layerCount = try DiscardLayersTests.layerDigests(archive).count
        let first = try containerd.importArchive(archive, [layers, "--json"])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(try Self.summary(first)["layersNotSpooled"] as? Int == 0)
        let before = try containerd.contentDigests()

        let again = try containerd.importArchive(archive, [layers, "--json"])
        #expect(again.status == 0, "\(again.stderr)")
        let summary = try Self.summary(again)
        #expect(summary["layersNotSpooled"] as? Int == layerCount, "\(summary)")
        #expect(summary["layersDecoded"] as? Int == 0, "\(summary)")
        #expect(again.stderr.contains("\(layerCount) layer blob(s) only hashed"), "\(again.stderr)")
        #expect(try containerd.contentDigests() == before)
        #expect(try containerd.status(["docker.io/kni/sample:gzip"]).status == 0)
        #expect(try containerd.runImage("docker.io/kni/sample:gzip") == "hello from kind-node-import\n")
    }

    /// A corrupt copy of a known layer is still refused: its bytes are hashed against its name.
    @Test func aKnownLayerWithOtherBytesIsRefused() throws {
        let containerd = try PrivateContainerd()
        #expect(try containerd.importArchive(try Fixtures.path("handmade/oci-gzip.tar")).status == 0)
        let corrupt = try containerd.importArchive(try Fixtures.path("handmade/corrupted-blob.tar"))
        #expect(corrupt.status == 65, "\(corrupt.stderr)")
        #expect(corrupt.stderr.contains("blob-digest-mismatch") || corrupt.stderr.contains("digest"), "\(corrupt.stderr)")
    }

    /// Image B stacks image A's top layer (the same blob) on another base: its chain is new, so
    /// the layer must be applied again from its bytes.
    @Test(arguments: [false, true])
    func aKnownBlobOnAnotherBaseIsAppliedAgain(discard: Bool) throws {
        let containerd = try PrivateContainerd()
        let temp = try TemporaryDirectory()
        let shared = #"[{"name": "app/shared.txt", "data": "the same layer on two bases"}]"#
        let (a, b) = (temp.path("a.tar"), temp.path("b.tar"))
        try Fixtures.makeImage(at: a, name: "docker.io/kni/a:v1", layers: #"[[{"name": "base-a.txt", "data": "a"}], \#(shared)]"#)
        try Fixtures.makeImage(at: b, name: "docker.io/kni/b:v1", layers: #"[[{"name": "base-b.txt", "data": "b"}], \#(shared)]"#)
        let mode = discard ? "--discard-layers" : "--keep-layers"
        #expect(try containerd.importArchive(a, [mode]).status == 0)

        let second = try containerd.importArchive(b, [mode, "--json"])
        if discard {
            // The blob was not spooled and is not kept: nothing imported, and the way out named.
            #expect(second.status == 75, "\(second.stderr)")
            #expect(second.stderr.contains("import again with --spool-all"), "\(second.stderr)")
            #expect(try containerd.images()["docker.io/kni/b:v1"] == nil)
            let spooled = try containerd.importArchive(b, [mode, "--spool-all"])
            #expect(spooled.status == 0, "\(spooled.stderr)")
        } else {
            // Read back from the content store and applied.
            #expect(second.status == 0, "\(second.stderr)")
            #expect(try Self.summary(second)["layersNotSpooled"] as? Int == 1)
        }
        // Every layer unpacked at its chain, as `status` checks it.
        #expect(try containerd.status(["docker.io/kni/b:v1"]).status == 0)
    }
}
