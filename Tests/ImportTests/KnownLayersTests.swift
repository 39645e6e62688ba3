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

    /// docker-archive (skopeo's) names each layer file `<digest>.tar`: a reload skips those too.
    @Test func aDockerArchiveReloadOnlyHashesTheLayers() throws {
        let containerd = try PrivateContainerd()
        let archive = try Fixtures.path("real/docker-archive.tar")
        let first = try containerd.importArchive(archive, ["--discard-layers", "--json"])
        #expect(first.status == 0, "\(first.stderr)")
        let again = try containerd.importArchive(archive, ["--discard-layers", "--json"])
        #expect(again.status == 0, "\(again.stderr)")
        let summary = try Self.summary(again)
        #expect(summary["layersNotSpooled"] as? Int == 4, "\(summary)")
        #expect(summary["layersDecoded"] as? Int == 0, "\(summary)")
        let names = try #require(summary["images"] as? [[String: Any]]).flatMap { $0["names"] as? [String] ?? [] }
        let name = try #require(names.first)
        #expect(try containerd.status([name]).status == 0)
        #expect(try containerd.runImage(name) == "hello from kind-node-import\n")
    }

    /// A docker-archive layer file named for a layer the node holds, but holding another layer:
    /// a name in docker save's format is only a name. The bytes were not kept, so the import
    /// stops with 75 and nothing committed; --spool-all imports it.
    @Test func aLayerFileNamedForAKnownBlobButHoldingAnotherIsNotTakenForIt() throws {
        let containerd = try PrivateContainerd()
        let real = try Fixtures.path("real/docker-archive.tar")
        #expect(try containerd.importArchive(real, ["--discard-layers"]).status == 0)
        let temp = try TemporaryDirectory()
        let misnamed = temp.path("misnamed.tar")
        // One layer (a file of its own) stored under the name of the real archive's first layer.
        _ = try runChecked([
            "python3", packageRoot.appendingPathComponent("Fixtures/misnamed-layer.py").path, real, misnamed,
        ])
        let refused = try containerd.importArchive(misnamed, ["--discard-layers"])
        #expect(refused.status == 75, "\(refused.stderr)")
        #expect(refused.stderr.contains("holds other bytes"), "\(refused.stderr)")
        #expect(refused.stderr.contains("--spool-all"), "\(refused.stderr)")
        #expect(try containerd.images()["docker.io/kni/misnamed:v1"] == nil)
        let spooled = try containerd.importArchive(misnamed, ["--discard-layers", "--spool-all"])
        #expect(spooled.status == 0, "\(spooled.stderr)")
        #expect(try containerd.status(["docker.io/kni/misnamed:v1"]).status == 0)
    }
}
