import Compression
import Core
import OCI

/// How an archive describes its images.
public enum ArchiveFormat: String, Sendable, Codable {
    /// `manifest.json` only: docker save ≤ 24 (no manifests in the archive).
    case dockerSave = "docker-save"
    /// `index.json` only: skopeo, podman, buildah, umoci.
    case oci
    /// Both: docker save ≥ 25, ctr export.
    case ociAndDockerSave = "oci+docker-save"
}

/// What one verification proved, as types: the plan an import commits, and the report for
/// people and `--json` rendered from it. Nothing downstream decodes the archive's JSON again.
public struct VerifiedArchive: Sendable {
    /// The archive's path, or `-` for standard input.
    public var archive: String
    /// The platform that had to be complete.
    public var platform: Platform
    /// nil when the archive has neither index.json nor manifest.json.
    public var format: ArchiveFormat?
    /// Every image of the archive, in the archive's order (consistent or not).
    public var images: [VerifiedImage]
    /// Every index and manifest the images reach, decoded once, by digest.
    public var documents: [Digest: Document]
    /// What the pass learned of every file (paths, digests), for the import's spool.
    public var contents: ArchiveContents
    public var problems: [Problem]
    /// The outer tar stream broke: no image was checked, `problems` says where it broke.
    public var unreadable = false
    /// Checked as docker save reads it, from manifest.json alone (`import --repair`).
    public var describedByManifestJSON = false

    /// True when no problem is an error.
    public var consistent: Bool { !problems.contains { $0.severity == .error } }

    /// The report for people and `--json`.
    public var report: VerificationReport { VerificationReport(rendering: self) }
}

/// What verification proved of one image.
public struct VerifiedImage: Sendable {
    /// Names as the archive gives them (RepoTags, `io.containerd.image.name`, `org.opencontainers.image.ref.name`).
    public var names: [String]
    /// Where the archive describes it: `index.json manifests[0]` or `manifest.json [0]`.
    public var source: String
    /// What an image record points at: the index.json entry, its media type resolved from its
    /// document; nil for docker save ≤ 24, whose manifest the import writes.
    public var target: Descriptor?
    /// The platform of the checked manifest (its config's, when the config names one).
    public var platform: Platform?
    public var manifest: Descriptor?
    public var config: Descriptor?
    /// Where the config is in the archive.
    public var configPath: String?
    public var imageConfig: ImageConfig?
    public var layers: [VerifiedLayer] = []
    /// docker save's description of the image (docker save ≤ 24, and the Docker 25.0.0 repair).
    public var dockerEntry: DockerManifestEntry?
    /// Platforms of the index not checked in full, with whether the archive holds them.
    public var otherPlatforms: [OtherPlatform] = []
    /// Manifests of the index that are no image (attestations, artifacts).
    public var attachments: [AttachedManifest] = []
    /// Bytes of the checked manifest's blobs as stored, and of its layers uncompressed.
    public var size: Int64 = 0
    public var uncompressedSize: Int64 = 0
    public var consistent = true

    public init(names: [String], source: String, target: Descriptor?) {
        self.names = names
        self.source = source
        self.target = target
    }

    /// How messages name the image.
    public var label: String {
        if let name = names.first { return name }
        if let target { return "image \(target.digest)" }
        return "image at \(source)"
    }

    /// The diff_ids the layers really have, in order.
    public var diffIDs: [Digest] { layers.compactMap(\.diffID) }

    /// The config's `rootfs.diff_ids`: what the layers must decompress to. The import names
    /// snapshots by them before it has decoded a pending layer.
    public var configDiffIDs: [Digest] { imageConfig?.rootfs.diffIDs ?? [] }

    /// What of the image's index the archive lacks: other platforms and attachments (by what
    /// they are and describe) not wholly in it. Nothing here is needed on the checked platform.
    public var absentParts: [String] {
        otherPlatforms.filter { !$0.complete }.map(\.platform)
            + attachments.filter { !$0.complete }.map { attached in
                attached.subjectPlatform.map { "\(attached.kind) of \($0)" } ?? attached.kind
            }
    }
}

/// One layer of a verified image.
public struct VerifiedLayer: Sendable {
    /// Zero-based position in the manifest.
    public var index: Int
    /// As the manifest lists it; docker save ≤ 24: the layer file's digest and size, no media type.
    public var descriptor: Descriptor
    /// What the blob's first bytes say (the media type, when there is one, agrees).
    public var compression: Compression
    /// Where the blob is in the archive.
    public var path: String
    /// The SHA-256 of the uncompressed layer; nil when it could not be read to its end.
    public var diffID: Digest?
    public var uncompressedSize: Int64
    public var entries: Int
    /// Not decoded yet (`LayerDecoding.deferred`): `diffID` is set only for an uncompressed layer.
    public var pending = false

    public init(
        index: Int, descriptor: Descriptor, compression: Compression, path: String, diffID: Digest?,
        uncompressedSize: Int64, entries: Int, pending: Bool = false
    ) {
        self.pending = pending
        self.index = index
        self.descriptor = descriptor
        self.compression = compression
        self.path = path
        self.diffID = diffID
        self.uncompressedSize = uncompressedSize
        self.entries = entries
    }

    public var digest: Digest { descriptor.digest }
}

/// A manifest of an image's index that is no image: what it is, what it describes, whether
/// the archive holds all of it.
public struct AttachedManifest: Codable, Sendable {
    /// `attestation-manifest` (BuildKit's `vnd.docker.reference.type`), `artifact <type>` or
    /// `unknown/unknown platform`.
    public var kind: String
    public var manifest: Digest
    /// The image manifest it describes (`vnd.docker.reference.digest`), and that manifest's platform.
    public var subject: Digest?
    public var subjectPlatform: String?
    /// True when the manifest and every blob it names are in the archive.
    public var complete: Bool
}

/// A platform of an index other than the checked one.
public struct OtherPlatform: Codable, Sendable {
    public var platform: String
    public var manifest: Digest
    /// True when all its blobs are in the archive.
    public var complete: Bool
}
