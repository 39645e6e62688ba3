import Core
import Testing

@testable import OCI

/// Which entry of an index a node runs, and which entries are no image.
@Suite struct IndexEntryTests {
    let amd64 = Platform(os: "linux", architecture: "amd64")

    func entry(_ hex: Character, platform: Platform?, annotations: [String: String]? = nil) -> Descriptor {
        Descriptor(
            mediaType: MediaType.ociManifest, digest: Digest(hex: String(repeating: hex, count: 64))!, size: 1,
            annotations: annotations, platform: platform)
    }

    @Test func attestationsAndUnknownPlatformsAreNoImages() {
        let attestation = entry(
            "a", platform: Platform(os: "unknown", architecture: "unknown"),
            annotations: ["vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": "sha256:" + String(repeating: "b", count: 64)])
        #expect(IndexEntry.attachmentKind(attestation) == "attestation-manifest")
        #expect(IndexEntry.subject(of: attestation)?.hex == String(repeating: "b", count: 64))
        #expect(IndexEntry.attachmentKind(entry("c", platform: Platform(os: "unknown", architecture: "unknown")))
            == "unknown/unknown platform")
        var artifact = entry("d", platform: nil)
        artifact.artifactType = "application/vnd.example.sbom"
        #expect(IndexEntry.attachmentKind(artifact) == "artifact application/vnd.example.sbom")
        #expect(IndexEntry.attachmentKind(entry("e", platform: amd64)) == nil)
        #expect(IndexEntry.attachmentKind(entry("f", platform: nil)) == nil)
    }

    @Test func theNodesPlatformIsChosenNeverAnAttestation() {
        let arm = entry("1", platform: Platform(os: "linux", architecture: "arm64", variant: "v8"))
        let mine = entry("2", platform: amd64)
        let attestation = entry(
            "3", platform: amd64, annotations: ["vnd.docker.reference.type": "attestation-manifest"])
        #expect(IndexEntry.choose([attestation, arm, mine], for: amd64) == mine)
        #expect(IndexEntry.choose([attestation, arm], for: amd64) == nil)
        // An entry that names no platform is taken when none names this one, as containerd does.
        let unnamed = entry("4", platform: nil)
        #expect(IndexEntry.choose([arm, unnamed], for: amd64) == unnamed)
        #expect(IndexEntry.choose([unnamed, mine], for: amd64) == mine)
    }
}
