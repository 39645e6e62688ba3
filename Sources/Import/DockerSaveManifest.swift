import Core
import OCI
import Verification

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// docker save ≤ 24 archives hold no manifest: like ctr, the import writes a Docker schema 2
/// manifest for each image (config and layers as the archive's manifest.json lists them, each
/// layer's media type from its compression) and stores it as the record's target.
enum DockerSaveManifest {
    /// The manifest of a verified docker-save image and its bytes (sorted keys, no escaped
    /// slashes: the same image always gives the same digest).
    static func make(for image: VerifiedImage) throws -> (manifest: Manifest, bytes: [UInt8]) {
        guard let config = image.config else { throw ImportError.unsupported("\(image.label): no config") }
        let manifest = Manifest(
            schemaVersion: 2, mediaType: MediaType.dockerManifest,
            config: Descriptor(mediaType: MediaType.dockerConfig, digest: config.digest, size: config.size),
            layers: image.layers.map {
                Descriptor(mediaType: MediaType.dockerLayer($0.compression), digest: $0.digest, size: $0.descriptor.size)
            })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (manifest, [UInt8](try encoder.encode(manifest)))
    }
}
