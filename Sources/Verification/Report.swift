import Core

/// The outcome of verifying one archive, for people and `--json` (docs/verify.md): rendered
/// from what `VerifiedArchive` proved.
public struct VerificationReport: Codable, Sendable {
    /// The archive's path, or `-` for standard input.
    public var archive: String
    /// `docker-save` (manifest.json only), `oci` (index.json only) or `oci+docker-save` (both).
    public var format: String?
    /// The platform that had to be complete, `os/arch[/variant]`.
    public var platform: String
    public var bytesRead: Int64
    public var images: [ImageReport]
    public var problems: [Problem]

    /// True when no problem is an error.
    public var consistent: Bool { !problems.contains { $0.severity == .error } }

    enum CodingKeys: String, CodingKey {
        case archive, format, platform, bytesRead, images, problems, consistent
    }

    public init(rendering verified: VerifiedArchive) {
        archive = verified.archive
        format = verified.format?.rawValue
        platform = verified.platform.description
        bytesRead = verified.contents.bytesRead
        images = verified.images.map(ImageReport.init(rendering:))
        problems = verified.problems
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        archive = try container.decode(String.self, forKey: .archive)
        format = try container.decodeIfPresent(String.self, forKey: .format)
        platform = try container.decode(String.self, forKey: .platform)
        bytesRead = try container.decode(Int64.self, forKey: .bytesRead)
        images = try container.decode([ImageReport].self, forKey: .images)
        problems = try container.decode([Problem].self, forKey: .problems)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(archive, forKey: .archive)
        try container.encodeIfPresent(format, forKey: .format)
        try container.encode(platform, forKey: .platform)
        try container.encode(bytesRead, forKey: .bytesRead)
        try container.encode(consistent, forKey: .consistent)
        try container.encode(images, forKey: .images)
        try container.encode(problems, forKey: .problems)
    }
}

/// One image of the archive, as `verify` shows it: a top-level entry of `index.json`, or of
/// `manifest.json` when the archive has no `index.json`.
public struct ImageReport: Codable, Sendable {
    public var names: [String]
    /// Where the archive describes it: `index.json manifests[0]` or `manifest.json [0]`.
    public var source: String
    /// The digest the image record would point at (an index or a manifest); nil for docker-save ≤ 24.
    public var target: Digest?
    /// The platform of the checked manifest.
    public var platform: String?
    public var manifest: Digest?
    public var config: Digest?
    public var layers: [LayerReport]
    /// Bytes of the checked manifest's blobs as stored (manifest, config, layers).
    public var size: Int64
    /// Bytes of its layers uncompressed.
    public var uncompressedSize: Int64
    /// Platforms of the index that were not checked in full, with what is missing of them.
    public var otherPlatforms: [OtherPlatform]
    /// Manifests of the index that are no image (BuildKit attestations, artifacts): stored with
    /// the index, checked by digest, never unpacked.
    public var attachments: [AttachedManifest]
    public var consistent: Bool

    public init(rendering image: VerifiedImage) {
        names = image.names
        source = image.source
        target = image.target?.digest
        platform = image.platform?.description
        manifest = image.manifest?.digest
        config = image.config?.digest
        layers = image.layers.map {
            LayerReport(
                index: $0.index, digest: $0.digest, mediaType: $0.descriptor.mediaType, compression: $0.compression.rawValue,
                size: $0.descriptor.size, diffID: $0.diffID, uncompressedSize: $0.uncompressedSize, entries: $0.entries)
        }
        size = image.size
        uncompressedSize = image.uncompressedSize
        otherPlatforms = image.otherPlatforms
        attachments = image.attachments
        consistent = image.consistent
    }
}

public struct LayerReport: Codable, Sendable {
    public var index: Int
    public var digest: Digest
    public var mediaType: String?
    public var compression: String
    public var size: Int64
    public var diffID: Digest?
    public var uncompressedSize: Int64
    public var entries: Int
}

/// A finding, with everything a user needs to act on it.
public struct Problem: Codable, Sendable, Equatable, CustomStringConvertible {
    public enum Severity: String, Codable, Sendable {
        case error
        case note
    }

    public var severity: Severity
    /// A stable identifier of the class of problem (docs/verify.md lists them).
    public var code: String
    public var image: String?
    public var platform: String?
    /// Zero-based position of the layer in the manifest.
    public var layer: Int?
    public var layerCount: Int?
    public var digest: Digest?
    /// A path inside the archive, or inside the layer when `layer` is set.
    public var path: String?
    public var expected: String?
    public var found: String?
    public var message: String

    public init(
        _ severity: Severity, _ code: String, _ message: String, image: String? = nil, platform: String? = nil,
        layer: Int? = nil, layerCount: Int? = nil, digest: Digest? = nil, path: String? = nil,
        expected: String? = nil, found: String? = nil
    ) {
        self.severity = severity
        self.code = code
        self.message = message
        self.image = image
        self.platform = platform
        self.layer = layer
        self.layerCount = layerCount
        self.digest = digest
        self.path = path
        self.expected = expected
        self.found = found
    }

    /// One line: where, what, expected and found.
    public var description: String {
        var subject: [String] = []
        if let image { subject.append(platform.map { "\(image) (\($0))" } ?? image) }
        if let layer {
            let position = layerCount.map { "layer \(layer + 1) of \($0)" } ?? "layer \(layer + 1)"
            subject.append(digest.map { "\(position) \($0)" } ?? position)
        } else if let digest {
            subject.append("blob \(digest)")
        }
        if let path { subject.append("path \"\(path)\"") }
        var line = subject.isEmpty ? message : subject.joined(separator: ", ") + ": " + message
        if let expected, let found {
            line += " (expected \(expected), found \(found))"
        }
        return line
    }
}
