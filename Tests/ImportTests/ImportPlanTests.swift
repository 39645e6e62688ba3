import Compression
import Core
import LayerApplier
import OCI
import Testing
import Verification

@testable import Import

/// The import's decisions that need no containerd: GC labels, record names, the manifest
/// written for docker save ≤ 24, where the applier writes.
@Suite struct ImportPlanTests {
    func digest(_ hex: Character) -> Digest { Digest(hex: String(repeating: hex, count: 64))! }

    /// A verified two-layer image (a gzip and an uncompressed layer).
    func image(target: Descriptor? = nil) -> VerifiedImage {
        var image = VerifiedImage(names: ["kni/app:v1", "v1"], source: "test", target: target)
        image.config = Descriptor(mediaType: MediaType.ociConfig, digest: digest("c"), size: 100)
        image.layers = [
            VerifiedLayer(
                index: 0, descriptor: Descriptor(mediaType: nil, digest: digest("1"), size: 10), compression: .gzip,
                path: "a/layer.tar", diffID: digest("d"), uncompressedSize: 20, entries: 1),
            VerifiedLayer(
                index: 1, descriptor: Descriptor(mediaType: nil, digest: digest("2"), size: 30), compression: .none,
                path: "b/layer.tar", diffID: digest("2"), uncompressedSize: 30, entries: 1),
        ]
        return image
    }

    @Test func documentsReferenceTheirChildrenAsCtrLabelsThem() {
        let manifest = Manifest(
            schemaVersion: 2, mediaType: MediaType.ociManifest,
            config: Descriptor(mediaType: MediaType.ociConfig, digest: digest("c"), size: 1),
            layers: [Descriptor(mediaType: MediaType.ociLayerGzip, digest: digest("1"), size: 1)])
        #expect(
            GCLabels.references(of: .manifest(manifest)) == [
                "containerd.io/gc.ref.content.config": digest("c").description,
                "containerd.io/gc.ref.content.l.0": digest("1").description,
            ])
        let index = Index(
            schemaVersion: 2, mediaType: nil,
            manifests: [
                Descriptor(mediaType: MediaType.ociManifest, digest: digest("a"), size: 1),
                Descriptor(mediaType: MediaType.ociManifest, digest: digest("b"), size: 1),
            ], annotations: nil)
        #expect(
            GCLabels.references(of: .index(index)) == [
                "containerd.io/gc.ref.content.m.0": digest("a").description,
                "containerd.io/gc.ref.content.m.1": digest("b").description,
            ])
    }

    @Test func layersNameTheirDiffIDAndTheConfigItsTopSnapshot() {
        let labels = GCLabels.unpacked(image(), snapshotter: "overlayfs")
        #expect(labels[digest("1")] == ["containerd.io/uncompressed": digest("d").description])
        #expect(labels[digest("2")] == ["containerd.io/uncompressed": digest("2").description])
        let top = chainIDs([digest("d"), digest("2")]).last!
        #expect(labels[digest("c")] == ["containerd.io/gc.ref.snapshot.overlayfs": top.description])
    }

    @Test func recordsAreNamedAsCRILooksThemUp() {
        let target = digest("9")
        #expect(ImageRecords.names(for: image(), target: target, digestNames: false, date: "2026-12-02") == ["docker.io/kni/app:v1"])
        #expect(
            ImageRecords.names(for: image(), target: target, digestNames: true, date: "2026-12-02") == [
                "docker.io/kni/app:v1", "import-2026-12-02@\(target)",
            ])
        // A bare tag is no name: the image gets a digest name.
        var unnamed = image()
        unnamed.names = ["v1"]
        #expect(ImageRecords.names(for: unnamed, target: target, digestNames: false, date: "2026-12-02") == ["import-2026-12-02@\(target)"])
    }

    @Test func dockerSaveImagesGetTheSchema2ManifestCtrWrites() throws {
        let (manifest, bytes) = try DockerSaveManifest.make(for: image())
        #expect(manifest.mediaType == MediaType.dockerManifest)
        #expect(manifest.config == Descriptor(mediaType: MediaType.dockerConfig, digest: digest("c"), size: 100))
        #expect(manifest.layers.map(\.mediaType) == [MediaType.dockerLayerGzip, MediaType.dockerLayer])
        #expect(manifest.layers.map(\.size) == [10, 30])
        // Sorted keys, no escaped slashes: the same image always gives the same digest.
        #expect(String(decoding: bytes, as: UTF8.self).hasPrefix(#"{"config":{"digest":"sha256:ccc"#))
        #expect(!String(decoding: bytes, as: UTF8.self).contains(#"\/"#))
        #expect(try DockerSaveManifest.make(for: image()).bytes == bytes)
    }

    @Test func theApplierWritesIntoOneBindOrOneOverlayMountOnly() {
        typealias Mount = ApplierTarget.Mount
        #expect(ApplierTarget(mounts: [Mount(type: "bind", source: "/s/1/fs", options: ["rbind", "rw"])]) == ApplierTarget(root: "/s/1/fs", mode: .plain))
        let overlay = Mount(
            type: "overlay", source: "overlay",
            options: ["index=off", "workdir=/s/3/work", "upperdir=/s/3/fs", "lowerdir=/s/2/fs:/s/1/fs", "userxattr"])
        #expect(
            ApplierTarget(mounts: [overlay])
                == ApplierTarget(root: "/s/3/fs", mode: .overlayUpper(lowers: ["/s/2/fs", "/s/1/fs"], userXattr: true)))
        // containerd's Diff.Apply for the rest: no upperdir, other filesystems, several mounts.
        #expect(ApplierTarget(mounts: [Mount(type: "overlay", source: "overlay", options: ["lowerdir=/a:/b"])]) == nil)
        #expect(ApplierTarget(mounts: [Mount(type: "fuse3.fuse-overlayfs", source: "x", options: [])]) == nil)
        #expect(ApplierTarget(mounts: [Mount(type: "bind", source: "/a", options: []), Mount(type: "bind", source: "/b", options: [])]) == nil)
        #expect(ApplierTarget(mounts: []) == nil)
    }
}
