import Core

/// What an entry of an image index is, and which entry a node runs: the one place verify,
/// import and status decide it, so they agree.
///
/// Besides one manifest per platform, indexes carry manifests that are not images: BuildKit's
/// attestation manifests (provenance, SBOM: platform `unknown/unknown`, annotation
/// `vnd.docker.reference.type: attestation-manifest`, layers of `application/vnd.in-toto+json`)
/// and OCI 1.1 artifacts. They are stored with the index so it stays whole, never unpacked and
/// never checked as an image's layers. containerd's platform matcher never picks them either.
public enum IndexEntry {
    /// BuildKit's annotation naming what a non-image manifest is (`attestation-manifest`).
    public static let referenceTypeAnnotation = "vnd.docker.reference.type"
    /// BuildKit's annotation naming the image manifest an attestation describes.
    public static let referenceDigestAnnotation = "vnd.docker.reference.digest"

    /// Why an index entry is not an image, or nil when it is one (or may be: a descriptor
    /// without media type or platform is judged by its document, see `attachmentKind(of:)`).
    public static func attachmentKind(_ descriptor: Descriptor) -> String? {
        if let type = descriptor.annotations?[referenceTypeAnnotation], !type.isEmpty { return type }
        if let type = descriptor.artifactType, !type.isEmpty { return "artifact \(type)" }
        if let platform = descriptor.platform, platform.os == "unknown", platform.architecture == "unknown" {
            return "unknown/unknown platform"
        }
        return nil
    }

    /// Why a manifest document is not an image (an OCI 1.1 artifact, or a config that is no
    /// image config), or nil when it is one.
    public static func attachmentKind(of manifest: Manifest) -> String? {
        if let type = manifest.artifactType, !type.isEmpty { return "artifact \(type)" }
        if let type = manifest.config.mediaType, !type.isEmpty, type != MediaType.ociConfig, type != MediaType.dockerConfig {
            return "artifact with config \(type)"
        }
        return nil
    }

    /// The image manifest described by an attachment (BuildKit's `vnd.docker.reference.digest`).
    public static func subject(of descriptor: Descriptor) -> Digest? {
        descriptor.annotations?[referenceDigestAnnotation].flatMap(Digest.init(parsing:))
    }

    /// The entry a node running `platform` uses, among `entries` with the platform each was
    /// listed under, as containerd's default matcher chooses: attachments never; an entry for
    /// the platform first, in index order; else one that names no platform.
    public static func choose<Entry>(
        _ entries: [Entry], for platform: Platform, descriptor: (Entry) -> Descriptor, platformOf: (Entry) -> Platform?
    ) -> Entry? {
        let images = entries.filter { attachmentKind(descriptor($0)) == nil }
        return images.first { platformOf($0).map { $0.matches(platform) } ?? false }
            ?? images.first { platformOf($0) == nil }
    }

    /// `choose` over an index's own entries.
    public static func choose(_ entries: [Descriptor], for platform: Platform) -> Descriptor? {
        choose(entries, for: platform, descriptor: { $0 }, platformOf: \.platform)
    }
}
