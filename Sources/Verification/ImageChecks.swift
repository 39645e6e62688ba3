import Core
import OCI

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The checks of one archive's images: what they prove goes into `VerifiedImage`s and
/// `documents`, what they find wrong into `problems`. One file per part of the archive:
/// OCILayoutChecks, DockerSaveChecks, LayerChecks, AttachmentChecks.
struct ImageChecks {
    let contents: ArchiveContents
    let platform: Platform
    let limits: InspectionLimits
    var problems: [Problem] = []
    /// Every index and manifest decoded, by digest.
    var documents: [Digest: Document] = [:]
    /// Read manifest.json only, as docker save's consumers do (the Docker 25.0.0 repair).
    var ignoreIndex = false
    /// Blob paths whose digest mismatch was already reported for an image.
    var reportedCorrupt: Set<String> = []

    init(contents: ArchiveContents, platform: Platform, limits: InspectionLimits) {
        self.contents = contents
        self.platform = platform
        self.limits = limits
    }

    var errorCount: Int { problems.filter { $0.severity == .error }.count }

    mutating func run() -> (ArchiveFormat?, [VerifiedImage]) {
        for path in contents.escapingEntries {
            problems.append(
                Problem(.error, "archive-path-escape", "an archive entry's path climbs above the archive's root", path: path))
        }
        let hasIndex = !ignoreIndex && contents.file(at: "index.json") != nil
        let hasDockerManifest = contents.file(at: "manifest.json") != nil
        var format: ArchiveFormat?
        var images: [VerifiedImage] = []
        switch (hasIndex, hasDockerManifest) {
        case (false, false):
            problems.append(
                Problem(
                    .error, "archive-no-images",
                    "the archive holds no image: it has neither an OCI index.json nor a docker-save manifest.json"))
        case (true, _):
            format = hasDockerManifest ? .ociAndDockerSave : .oci
            images = checkOCILayout(crossCheck: hasDockerManifest)
        case (false, true):
            format = .dockerSave
            images = checkDockerSave()
        }
        checkBlobNames()
        if images.isEmpty && format != nil && !problems.contains(where: { $0.severity == .error }) {
            problems.append(Problem(.error, "archive-no-images", "the archive's index lists no image"))
        }
        return (format, images)
    }

    /// Runs one image's checks; it is consistent when they added no error.
    mutating func checking(_ image: inout VerifiedImage, _ checks: (inout Self, inout VerifiedImage) -> Void) {
        let errorsBefore = errorCount
        checks(&self, &image)
        image.consistent = errorCount == errorsBefore
    }

    // MARK: Blob names

    /// Every `blobs/sha256/<hex>` must hash to its name; those an image uses were reported with it.
    private mutating func checkBlobNames() {
        for (path, file) in contents.files.sorted(by: { $0.key < $1.key })
        where path.hasPrefix("blobs/") && !reportedCorrupt.contains(path) {
            let parts = path.split(separator: "/")
            guard parts.count == 3 else { continue }
            guard parts[1] == "sha256" else {
                problems.append(
                    Problem(.note, "blob-unsupported-algorithm", "only sha256 blobs are checked", path: path))
                continue
            }
            guard let named = Digest(hex: String(parts[2])) else {
                problems.append(Problem(.error, "blob-bad-name", "the blob's file name is not a sha256 digest", path: path))
                continue
            }
            if named != file.digest {
                problems.append(
                    Problem(
                        .error, "blob-digest-mismatch",
                        "the blob's bytes do not hash to its name (corrupted or altered)", digest: named, path: path,
                        expected: named.description, found: file.digest.description))
            }
        }
    }

    // MARK: Blobs

    /// Presence, size and (for blobs named by digest) integrity of what a descriptor points at.
    /// An absent blob is an error when `full`, else a note (another platform's blob), or
    /// `absentNote` when given.
    mutating func checkDescriptorBlob(
        _ descriptor: Descriptor, role: String, full: Bool, image: VerifiedImage?, layer: LayerContext? = nil,
        absentNote: Problem? = nil
    ) -> Bool {
        let label = image?.label
        let platform = image?.platform?.description
        guard let blob = contents.blob(descriptor.digest) else {
            if let absentNote {
                problems.append(absentNote)
            } else if full {
                problems.append(
                    Problem(
                        .error, "blob-missing", "the \(role) blob is not in the archive", image: label, platform: platform,
                        layer: layer?.index, layerCount: layer?.count, digest: descriptor.digest,
                        path: ArchiveContents.blobPath(descriptor.digest)))
            } else {
                problems.append(
                    Problem(
                        .note, "platform-blob-missing",
                        "the \(role) blob of this other platform is not in the archive (exports of Docker's containerd store do this; kind#3795)",
                        image: label, platform: platform, layer: layer?.index, layerCount: layer?.count,
                        digest: descriptor.digest))
            }
            return false
        }
        if blob.size != descriptor.size {
            problems.append(
                Problem(
                    .error, "blob-size-mismatch", "the \(role) blob's size differs from its descriptor",
                    image: label, platform: platform, layer: layer?.index, layerCount: layer?.count,
                    digest: descriptor.digest, expected: "\(descriptor.size) bytes", found: "\(blob.size) bytes"))
        }
        guard blob.digest == descriptor.digest else {
            if reportedCorrupt.insert(blob.path).inserted {
                problems.append(
                    Problem(
                        .error, "blob-digest-mismatch",
                        "the \(role) blob's bytes do not hash to its digest (corrupted or altered)",
                        image: label, platform: platform, layer: layer?.index, layerCount: layer?.count,
                        digest: descriptor.digest, path: blob.path, expected: descriptor.digest.description,
                        found: blob.digest.description))
            }
            return false
        }
        return true
    }

    // MARK: JSON documents

    /// The bytes of a kept JSON document, recording why there are none.
    mutating func documentBytes(_ role: String, at path: String, image: String?) -> [UInt8]? {
        guard let file = contents.file(at: path) else {
            problems.append(Problem(.error, "blob-missing", "the \(role) is not in the archive", image: image, path: path))
            return nil
        }
        switch file.json {
        case .kept(let bytes):
            return bytes
        case .tooLarge:
            problems.append(
                Problem(
                    .error, "json-too-large",
                    "the \(role) is \(file.size) bytes, above the limit of \(limits.maxJSONDocument) bytes for one JSON document",
                    image: image, path: path))
        case .overTotalLimit:
            problems.append(
                Problem(
                    .error, "json-too-large",
                    "the archive's JSON documents together exceed \(limits.maxJSONTotal) bytes; the \(role) was not kept",
                    image: image, path: path))
        case .notJSON:
            problems.append(
                Problem(.error, "json-malformed", "the \(role) is not a JSON document", image: image, path: path))
        }
        return nil
    }

    /// Decodes a kept JSON document, recording why it cannot be.
    mutating func decode<T: Decodable>(_ role: String, at path: String, image: String?) -> T? {
        guard let bytes = documentBytes(role, at: path, image: image) else { return nil }
        return decoding(role, at: path, image: image) { try JSONDecoder().decode(T.self, from: Data(bytes)) }
    }

    /// The index or manifest at `descriptor`, kept in `documents`; nil (recorded) when it is
    /// missing, not kept or does not decode.
    mutating func document(_ descriptor: Descriptor, role: String, image: String?) -> Document? {
        if let known = documents[descriptor.digest] { return known }
        let path = ArchiveContents.blobPath(descriptor.digest)
        guard let bytes = documentBytes(role, at: path, image: image),
            let document = decoding(role, at: path, image: image, {
                try Document(decoding: bytes, declaredMediaType: descriptor.mediaType)
            })
        else { return nil }
        documents[descriptor.digest] = document
        return document
    }

    private mutating func decoding<T>(_ role: String, at path: String, image: String?, _ body: () throws -> T) -> T? {
        do {
            return try body()
        } catch {
            problems.append(
                Problem(
                    .error, "json-malformed", "the \(role) is not a valid document: \(Self.describe(error))", image: image,
                    path: path))
            return nil
        }
    }

    static func describe(_ error: any Error) -> String {
        guard let error = error as? DecodingError else { return "\(error)" }
        func at(_ path: [any CodingKey]) -> String {
            path.isEmpty ? "" : " at " + path.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        }
        switch error {
        case .dataCorrupted(let context):
            return context.debugDescription + at(context.codingPath)
        case .keyNotFound(let key, let context):
            return "missing \"\(key.stringValue)\"" + at(context.codingPath)
        case .typeMismatch(let type, let context), .valueNotFound(let type, let context):
            return "expected \(type)" + at(context.codingPath)
        @unknown default:
            return "\(error)"
        }
    }

    /// The digest a `blobs/sha256/<hex>` or `<hex>.json` path names.
    static func blobDigest(_ path: String) -> Digest? {
        guard let last = path.split(separator: "/").last else { return nil }
        let name = last.hasSuffix(".json") ? last.dropLast(5) : last
        return Digest(hex: String(name))
    }
}

/// Where a layer stands, for its problems.
struct LayerContext {
    var image: String
    var platform: String?
    var index: Int
    var count: Int
    var digest: Digest
}
