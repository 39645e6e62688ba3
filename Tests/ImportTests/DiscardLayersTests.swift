import Foundation
import Testing
import TestSupport

/// containerd's `discard_unpacked_layers` (set by kind in every node): CRI's pulls keep no layer
/// blob once the layer is unpacked; the import does the same, from the node's config or a flag.
@Suite(.serialized) struct DiscardLayersTests {
    /// The layer digests of `archive`'s images, as `verify --json` reports them.
    static func layerDigests(_ archive: String) throws -> Set<String> {
        let verified = try run([builtExecutable, "verify", "--json", archive])
        let object = try JSONSerialization.jsonObject(with: verified.stdout) as? [String: Any]
        let images = object?["images"] as? [[String: Any]] ?? []
        let layers = images.flatMap { $0["layers"] as? [[String: Any]] ?? [] }
        return Set(layers.compactMap { $0["digest"] as? String })
    }

    /// A node config as kind writes it (version 2), with discard_unpacked_layers = `discard`.
    static func kindConfig(discard: Bool, in directory: TemporaryDirectory) throws -> String {
        let path = directory.path("config.toml")
        try """
        version = 2
        [plugins."io.containerd.grpc.v1.cri".containerd]
          discard_unpacked_layers = \(discard)
          snapshotter = "overlayfs"
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test(arguments: [
        ("real/oci-gzip.tar", "docker.io/kni/sample:gzip"), ("real/docker-archive.tar", "docker.io/kni/sample:v1"),
    ])
    func theNodesConfigDiscardsLayerBlobs(fixture: String, name: String) throws {
        let containerd = try PrivateContainerd()
        let temp = try TemporaryDirectory()
        let archive = try Fixtures.path(fixture)
        let layers = try Self.layerDigests(archive)
        #expect(!layers.isEmpty)
        let result = try containerd.importArchive(
            archive, ["--containerd-config", try Self.kindConfig(discard: true, in: temp)])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("layer blobs not kept"), "\(result.stderr)")
        let content = try containerd.contentDigests()
        #expect(content.isDisjoint(with: layers), "layer blobs stored: \(content.intersection(layers))")
        // What remains names no layer blob for GC, as containerd's discard leaves a manifest.
        let labels = try containerd.ctr(["content", "ls"]).stdoutText
        #expect(!labels.contains("containerd.io/gc.ref.content.l."), "\(labels)")
        #expect(try containerd.runImage(name) == "hello from kind-node-import\n")
        // status and doctor take the image as present; a reload reuses every snapshot.
        #expect(try containerd.status([name]).status == 0)
        let doctor = try run([builtExecutable, "doctor", "--address", containerd.socket, "--snapshotter", "overlayfs"])
        #expect(doctor.status == 0, "\(doctor.stdoutText)\(doctor.stderr)")
        let again = try containerd.importArchive(archive, ["--discard-layers"])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stdoutText.contains("unpacked=0"), "\(again.stdoutText)")
        #expect(again.stderr.contains("0 layer(s) decompressed"), "\(again.stderr)")
        #expect(try containerd.contentDigests().isDisjoint(with: layers))
        #expect(try containerd.leases().isEmpty)
    }

    /// `--keep-layers` overrides the config; without discard every layer blob is stored.
    @Test func keepLayersOverridesTheConfig() throws {
        let containerd = try PrivateContainerd()
        let temp = try TemporaryDirectory()
        let archive = try Fixtures.path("real/oci-zstd.tar")
        let result = try containerd.importArchive(
            archive, ["--keep-layers", "--containerd-config", try Self.kindConfig(discard: true, in: temp)])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try Self.layerDigests(archive).isSubset(of: try containerd.contentDigests()))
        let both = try containerd.importArchive(archive, ["--keep-layers", "--discard-layers"])
        #expect(both.status == 64, "\(both.stderr)")
    }

    /// containerd's `Diff.Apply` reads a layer from the content store: it is stored for it,
    /// then left to GC (nothing names it).
    @Test func diffApplyStillGetsItsBlob() throws {
        let containerd = try PrivateContainerd()
        let archive = try Fixtures.path("real/oci-gzip.tar")
        let result = try containerd.importArchive(archive, ["--discard-layers", "--unpack-with", "containerd"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try containerd.runImage("docker.io/kni/sample:gzip") == "hello from kind-node-import\n")
        #expect(try containerd.leases().isEmpty)
        let labels = try containerd.ctr(["content", "ls"]).stdoutText
        #expect(!labels.contains("containerd.io/gc.ref.content.l."), "\(labels)")
    }
}
