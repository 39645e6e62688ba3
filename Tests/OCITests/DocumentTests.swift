import Core
import Compression
import Testing

@testable import OCI

/// Which document is which, and the walk from an index to its manifests.
@Suite struct DocumentTests {
    func digest(_ hex: Character) -> Digest { Digest(hex: String(repeating: hex, count: 64))! }

    func json(_ text: String) -> [UInt8] { Array(text.utf8) }

    @Test func documentsAreClassifiedByMediaTypeElseByTheirKeys() throws {
        let manifest = json(#"{"config":{"digest":"sha256:\#(String(repeating: "a", count: 64))","size":1},"layers":[]}"#)
        let index = json(#"{"manifests":[]}"#)
        guard case .manifest = try Document(decoding: manifest) else { Issue.record("not a manifest"); return }
        guard case .index = try Document(decoding: index) else { Issue.record("not an index"); return }
        #expect(try Document(decoding: manifest).mediaType == MediaType.ociManifest)
        let docker = json(#"{"mediaType":"\#(MediaType.dockerManifestList)","manifests":[]}"#)
        #expect(try Document(decoding: docker).mediaType == MediaType.dockerManifestList)
        // A config, or an in-toto statement, is neither.
        #expect(throws: DocumentError.notADocument(mediaType: nil)) { try Document(decoding: json(#"{"rootfs":{}}"#)) }
        #expect(throws: DocumentError.notADocument(mediaType: MediaType.ociConfig)) {
            try Document(decoding: index, declaredMediaType: MediaType.ociConfig)
        }
    }

    @Test func theWalkReadsIndexesOnlyAndFindsManifestsInDepthFirstOrder() throws {
        let amd64 = Platform(os: "linux", architecture: "amd64")
        let arm64 = Platform(os: "linux", architecture: "arm64")
        let inner = Descriptor(mediaType: MediaType.ociIndex, digest: digest("1"), size: 1)
        let root = Descriptor(mediaType: MediaType.ociIndex, digest: digest("0"), size: 1)
        let m1 = Descriptor(mediaType: MediaType.ociManifest, digest: digest("2"), size: 1, platform: amd64)
        let m2 = Descriptor(mediaType: MediaType.ociManifest, digest: digest("3"), size: 1, platform: arm64)
        let m3 = Descriptor(mediaType: MediaType.dockerManifest, digest: digest("4"), size: 1, platform: arm64)
        let documents: [Digest: Document] = [
            root.digest: .index(Index(schemaVersion: 2, mediaType: nil, manifests: [inner, m3], annotations: nil)),
            inner.digest: .index(Index(schemaVersion: 2, mediaType: nil, manifests: [m1, m2], annotations: nil)),
        ]
        var walk = IndexWalk(root: root)
        var read: [Digest] = []
        while let next = try walk.next() {
            read.append(next.digest)
            try walk.provide(try #require(documents[next.digest]))
        }
        #expect(read == [root.digest, inner.digest])
        #expect(walk.leaves.map(\.descriptor.digest) == [m1.digest, m2.digest, m3.digest])
        #expect(walk.rootIsIndex)
        let single = IndexWalk(root: m1)
        var copy = single
        #expect(try copy.next() == nil)
        #expect(copy.leaves.map(\.descriptor) == [m1] && !copy.rootIsIndex)
    }

    @Test func aWalkStopsAtItsDepthAndAtNonImages() throws {
        let loop = Descriptor(mediaType: MediaType.ociIndex, digest: digest("5"), size: 1)
        var walk = IndexWalk(root: loop, maxDepth: 3)
        #expect(throws: IndexWalk.Failure.tooDeep(loop.digest, limit: 3)) {
            while let next = try walk.next() {
                try walk.provide(.index(Index(schemaVersion: 2, mediaType: nil, manifests: [next], annotations: nil)))
            }
        }
        var config = IndexWalk(root: Descriptor(mediaType: MediaType.ociConfig, digest: digest("6"), size: 1))
        #expect(throws: IndexWalk.Failure.notAnImage(digest("6"), mediaType: MediaType.ociConfig)) { try config.next() }
    }

    @Test func layerMediaTypesAnnounceTheirCompression() {
        #expect(MediaType.layerCompression(MediaType.ociLayerGzip) == .gzip)
        #expect(MediaType.layerCompression(MediaType.dockerLayer) == Compression.none)
        #expect(MediaType.layerCompression(MediaType.ociLayerZstd) == .zstd)
        #expect(MediaType.layerCompression("application/vnd.in-toto+json") == nil)
        for compression in [Compression.none, .gzip, .zstd] {
            #expect(MediaType.layerCompression(MediaType.dockerLayer(compression)) == compression)
        }
    }
}
