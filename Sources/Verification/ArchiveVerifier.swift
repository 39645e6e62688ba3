import Core
import OCI
import Tar

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Verifies a docker-save or OCI archive in one streaming pass: every blob's digest and size,
/// every layer decompressed and checked against the config's `rootfs.diff_ids`, every layer entry
/// kept inside the layer's root, and the two descriptions of a Docker ≥ 25 archive against each other.
public struct ArchiveVerifier: Sendable {
    public var platform: Platform
    public var limits: InspectionLimits

    public init(platform: Platform = .current, limits: InspectionLimits = InspectionLimits()) {
        self.platform = platform
        self.limits = limits
    }

    /// Reads `input` to its end and checks every image in it.
    /// - Parameter progress: called with the bytes read so far, after every chunk.
    /// - Throws: `InputError` when reading fails; everything about the archive goes into the report.
    /// - Parameter sink: receives a copy of every regular file as it streams past.
    public func verify(
        _ input: InputFile, sink: (any ArchiveFileSink)? = nil, progress: ((Int64) -> Void)? = nil
    ) throws -> VerificationReport {
        try verifyReturningContents(input, sink: sink, progress: progress).report
    }

    /// `verify`, also returning what the scan learned of every file (the importer needs the
    /// blobs' digests and layer facts).
    public func verifyReturningContents(
        _ input: InputFile, sink: (any ArchiveFileSink)? = nil, progress: ((Int64) -> Void)? = nil
    ) throws -> (report: VerificationReport, contents: ArchiveContents) {
        var report = VerificationReport(archive: input.name, platform: platform.description)
        let scanner = ArchiveScanner(limits: limits, sink: sink)
        let parser = TarParser(consumer: scanner)
        do {
            try input.forEachChunk { chunk in
                try parser.feed(chunk)
                progress?(parser.offset)
            }
            try parser.finish()
        } catch let error as TarError {
            scanner.noteBytesRead(parser.offset)
            report.bytesRead = parser.offset
            report.problems.append(Self.outerFailure(error, at: parser.offset))
            return (report, scanner.contents)
        }
        scanner.noteBytesRead(parser.offset)
        return (check(scanner.contents, into: report), scanner.contents)
    }

    /// The repair of a Docker 25.0.0 archive (`import --repair`): when `report` diagnosed
    /// `docker25-manifest-defect`, the archive checked again as docker save reads it, from
    /// manifest.json alone (index.json and the OCI manifests ignored; every blob is still
    /// checked against its name). Returns that report, whose images are then described by
    /// manifest.json (import it only if it is consistent); nil when there is no such defect.
    public func repairingDocker25Defect(_ report: VerificationReport, contents: ArchiveContents) -> VerificationReport? {
        guard report.problems.contains(where: { $0.code == "docker25-manifest-defect" }) else { return nil }
        return check(contents, into: VerificationReport(archive: report.archive, platform: report.platform), ignoringIndex: true)
    }

    /// Checks what a scan found. Separate from reading so tests can feed contents directly.
    func check(_ contents: ArchiveContents, into initial: VerificationReport, ignoringIndex: Bool = false)
        -> VerificationReport
    {
        var check = ImageChecks(contents: contents, platform: platform, limits: limits)
        check.ignoreIndex = ignoringIndex
        var report = initial
        report.bytesRead = contents.bytesRead
        check.run(&report)
        return report
    }

    static func outerFailure(_ error: TarError, at offset: Int64) -> Problem {
        switch error {
        case .truncated(let entry, _, let missing):
            return Problem(
                .error, "archive-truncated",
                "the archive ends after \(offset) bytes, \(missing) bytes short of the end of "
                    + (entry == nil ? "a header" : "this entry") + "; it was cut off while being written or copied",
                path: entry)
        case .badHeader(let at, _) where at == 0:
            return Problem(.error, "archive-not-tar", "the input is not a tar archive (its first block is no tar header)")
        default:
            return Problem(.error, "archive-corrupt", "the archive's tar structure is broken: \(error)")
        }
    }
}

/// The checks of one archive's images, accumulating problems into a report.
struct ImageChecks {
    let contents: ArchiveContents
    let platform: Platform
    let limits: InspectionLimits
    var problems: [Problem] = []
    /// Read manifest.json only, as docker save's consumers do (the Docker 25.0.0 repair).
    var ignoreIndex = false
    /// Blob paths whose digest mismatch was already reported for an image.
    private var reportedCorrupt: Set<String> = []

    init(contents: ArchiveContents, platform: Platform, limits: InspectionLimits) {
        self.contents = contents
        self.platform = platform
        self.limits = limits
    }

    mutating func run(_ report: inout VerificationReport) {
        defer { report.problems += problems }
        for path in contents.escapingEntries {
            problems.append(
                Problem(.error, "archive-path-escape", "an archive entry's path climbs above the archive's root", path: path))
        }

        let hasIndex = !ignoreIndex && contents.file(at: "index.json") != nil
        let hasDockerManifest = contents.file(at: "manifest.json") != nil
        switch (hasIndex, hasDockerManifest) {
        case (false, false):
            report.format = nil
            problems.append(
                Problem(
                    .error, "archive-no-images",
                    "the archive holds no image: it has neither an OCI index.json nor a docker-save manifest.json"))
        case (true, _):
            report.format = hasDockerManifest ? "oci+docker-save" : "oci"
            report.images = checkOCILayout(crossCheck: hasDockerManifest)
        case (false, true):
            report.format = "docker-save"
            report.images = checkDockerSave()
        }
        checkBlobNames()
        if report.images.isEmpty && (hasIndex || hasDockerManifest) && !problems.contains(where: { $0.severity == .error }) {
            problems.append(Problem(.error, "archive-no-images", "the archive's index lists no image"))
        }
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

    // MARK: OCI layout

    private mutating func checkOCILayout(crossCheck: Bool) -> [ImageReport] {
        guard let index: Index = decode("index.json", at: "index.json", image: nil) else { return [] }
        let dockerEntries: [DockerManifestEntry]? =
            crossCheck ? decode("manifest.json", at: "manifest.json", image: nil) : nil
        var images: [ImageReport] = []
        for (position, descriptor) in index.manifests.enumerated() {
            if let kind = IndexEntry.attachmentKind(descriptor) {
                // Not an image (producers that export referrers list them here): kept whole, never imported.
                _ = checkAttachment(Leaf(descriptor: descriptor, platform: descriptor.platform), kind: kind, among: [], image: nil)
                problems.append(
                    Problem(
                        .note, "index-entry-not-image",
                        "index.json manifests[\(position)] is a \(kind), not an image: its blobs are checked and stored, nothing is unpacked from it",
                        digest: descriptor.digest))
                continue
            }
            var image = ImageReport(
                names: Self.names(descriptor), source: "index.json manifests[\(position)]", target: descriptor.digest)
            let errorsBefore = errorCount
            checkTarget(descriptor, image: &image)
            if let dockerEntries { crossCheckDockerManifest(dockerEntries, image: image) }
            image.consistent = errorCount == errorsBefore
            images.append(image)
        }
        if let dockerEntries {
            let configs = Set(images.compactMap(\.config))
            for (position, entry) in dockerEntries.enumerated() {
                if let config = Self.blobDigest(entry.config), !configs.contains(config) {
                    problems.append(
                        Problem(
                            .note, "docker-manifest-unmatched",
                            "manifest.json [\(position)] describes config \(config), which no index.json image uses",
                            image: entry.repoTags?.first))
                }
            }
        }
        return images
    }

    private var errorCount: Int { problems.filter { $0.severity == .error }.count }

    /// A manifest reached through index.json, with the platform it is listed under.
    struct Leaf {
        var descriptor: Descriptor
        var platform: Platform?
    }

    /// Resolves an index.json entry to its platform manifests and checks them: the node's
    /// platform in full, the other platforms' blobs where present, and the manifests that are
    /// no image (attestations, artifacts) by digest only.
    private mutating func checkTarget(_ descriptor: Descriptor, image: inout ImageReport) {
        var leaves: [Leaf] = []
        guard collectManifests(descriptor, platform: descriptor.platform, depth: 0, image: image, into: &leaves) else {
            return
        }
        let imageLeaves = leaves.filter { IndexEntry.attachmentKind($0.descriptor) == nil }
        defer {
            for leaf in leaves {
                guard let kind = IndexEntry.attachmentKind(leaf.descriptor) else { continue }
                image.attachments.append(checkAttachment(leaf, kind: kind, among: imageLeaves, image: image))
            }
        }
        if imageLeaves.count == 1 && !MediaType.isIndex(kind(of: descriptor)) {
            // A single manifest: always checked in full.
            checkManifest(imageLeaves[0].descriptor, full: true, image: &image)
            if let found = image.platform.flatMap(Platform.init(parsing:)), !found.matches(platform) {
                problems.append(
                    Problem(
                        .note, "platform-differs", "the image is for \(found), not for the checked platform \(platform)",
                        image: image.label))
            }
            return
        }
        guard let chosen = IndexEntry.choose(imageLeaves, for: platform, descriptor: \.descriptor, platformOf: \.platform)
        else {
            let available = imageLeaves.compactMap { $0.platform?.description }
            problems.append(
                Problem(
                    .error, "platform-not-found",
                    "the image index has no manifest for \(platform) (it has: \(available.joined(separator: ", ")))",
                    image: image.label, digest: descriptor.digest))
            return
        }
        checkManifest(chosen.descriptor, full: true, image: &image)
        for leaf in imageLeaves where leaf.descriptor.digest != chosen.descriptor.digest {
            var other = ImageReport(names: image.names, source: image.source, target: image.target)
            other.platform = leaf.platform?.description
            let notesBefore = problems.count
            checkManifest(leaf.descriptor, full: false, image: &other)
            let missing = problems[notesBefore...].contains { $0.code == "platform-blob-missing" }
            image.otherPlatforms.append(
                OtherPlatform(
                    platform: leaf.platform?.description ?? "unknown", manifest: leaf.descriptor.digest,
                    complete: !missing))
        }
    }

    /// The media type of what a descriptor points at: its own, else the document's `mediaType`,
    /// else guessed from the document's keys.
    private func kind(of descriptor: Descriptor) -> String? {
        if let type = descriptor.mediaType, !type.isEmpty { return type }
        guard let blob = contents.blob(descriptor.digest), case .kept(let bytes) = blob.json,
            let object = try? JSONSerializationLite.topLevelKeys(bytes)
        else { return nil }
        if let type = object.mediaType { return type }
        if object.keys.contains("manifests") { return MediaType.ociIndex }
        if object.keys.contains("layers") { return MediaType.ociManifest }
        return nil
    }

    /// Walks nested indexes down to manifests. Returns false when a problem stopped the walk.
    private mutating func collectManifests(
        _ descriptor: Descriptor, platform: Platform?, depth: Int, image: ImageReport, into leaves: inout [Leaf]
    ) -> Bool {
        let type = kind(of: descriptor)
        if MediaType.isIndex(type) {
            guard depth < 8 else {
                problems.append(
                    Problem(.error, "index-too-deep", "image indexes nest more than 8 levels deep", image: image.label,
                            digest: descriptor.digest))
                return false
            }
            guard checkDescriptorBlob(descriptor, role: "image index", full: true, image: image),
                let nested: Index = decode("image index", at: blobPath(descriptor.digest), image: image.label)
            else { return false }
            for child in nested.manifests {
                guard collectManifests(child, platform: child.platform, depth: depth + 1, image: image, into: &leaves)
                else { return false }
            }
            return true
        }
        if MediaType.isManifest(type) || type == nil {
            leaves.append(Leaf(descriptor: descriptor, platform: platform))
            return true
        }
        // Attestations and other artifacts in an index are not images; ctr skips them too.
        if depth > 0 { return true }
        problems.append(
            Problem(
                .error, "unsupported-media-type", "index.json points at a \(type ?? "?"), which is no image",
                image: image.label, digest: descriptor.digest))
        return false
    }

    /// Checks a platform manifest, its config and layers. `full` is false for platforms other than
    /// the checked one: their missing blobs are notes, their present blobs must still be right.
    private mutating func checkManifest(_ descriptor: Descriptor, full: Bool, image: inout ImageReport) {
        image.manifest = descriptor.digest
        if image.platform == nil { image.platform = descriptor.platform?.description }
        guard checkDescriptorBlob(descriptor, role: "manifest", full: full, image: image),
            let manifest: Manifest = decode("manifest", at: blobPath(descriptor.digest), image: image.label)
        else { return }
        image.size += descriptor.size
        image.config = manifest.config.digest
        guard checkDescriptorBlob(manifest.config, role: "config", full: full, image: image),
            let config: ImageConfig = decode("config", at: blobPath(manifest.config.digest), image: image.label)
        else { return }
        image.size += manifest.config.size
        if let configPlatform = config.platform { image.platform = configPlatform.description }
        let label = image.label
        let platformText = image.platform
        for (position, layer) in manifest.layers.enumerated() {
            let context = LayerContext(
                image: label, platform: platformText, index: position, count: manifest.layers.count,
                digest: layer.digest)
            guard checkDescriptorBlob(layer, role: "layer", full: full, image: image, layer: context),
                let blob = contents.blob(layer.digest)
            else { continue }
            if let report = checkLayer(blob, mediaType: layer.mediaType, context: context) {
                image.layers.append(report)
                image.size += blob.size
                image.uncompressedSize += report.uncompressedSize
            }
        }
        if config.rootfs.type != "layers" {
            problems.append(
                Problem(
                    .error, "config-bad-rootfs", "the config's rootfs.type is not \"layers\"", image: label,
                    platform: platformText, digest: manifest.config.digest, expected: "layers",
                    found: config.rootfs.type))
        }
        compareDiffIDs(
            layerCount: manifest.layers.count, diffIDs: config.rootfs.diffIDs, found: image.layers, image: label,
            platform: platformText, describedBy: "the manifest \(descriptor.digest)")
    }

    struct LayerContext {
        var image: String
        var platform: String?
        var index: Int
        var count: Int
        var digest: Digest
    }

    /// Presence, size and (for blobs named by digest) integrity of what a descriptor points at.
    /// An absent blob is an error when `full`, else a note (another platform's blob).
    mutating func checkDescriptorBlob(
        _ descriptor: Descriptor, role: String, full: Bool, image: ImageReport?, layer: LayerContext? = nil,
        absentNote: Problem? = nil
    ) -> Bool {
        guard let blob = contents.blob(descriptor.digest) else {
            if let absentNote {
                problems.append(absentNote)
            } else if full {
                problems.append(
                    Problem(
                        .error, "blob-missing", "the \(role) blob is not in the archive", image: image?.label,
                        platform: image?.platform, layer: layer?.index, layerCount: layer?.count,
                        digest: descriptor.digest, path: blobPath(descriptor.digest)))
            } else {
                problems.append(
                    Problem(
                        .note, "platform-blob-missing",
                        "the \(role) blob of this other platform is not in the archive (exports of Docker's containerd store do this; kind#3795)",
                        image: image?.label, platform: image?.platform, layer: layer?.index, layerCount: layer?.count,
                        digest: descriptor.digest))
            }
            return false
        }
        if blob.size != descriptor.size {
            problems.append(
                Problem(
                    .error, "blob-size-mismatch", "the \(role) blob's size differs from its descriptor",
                    image: image?.label, platform: image?.platform, layer: layer?.index, layerCount: layer?.count,
                    digest: descriptor.digest, expected: "\(descriptor.size) bytes", found: "\(blob.size) bytes"))
        }
        guard blob.digest == descriptor.digest else {
            if reportedCorrupt.insert(blob.path).inserted {
                problems.append(
                    Problem(
                        .error, "blob-digest-mismatch",
                        "the \(role) blob's bytes do not hash to its digest (corrupted or altered)",
                        image: image?.label, platform: image?.platform, layer: layer?.index, layerCount: layer?.count,
                        digest: descriptor.digest, path: blob.path, expected: descriptor.digest.description,
                        found: blob.digest.description))
            }
            return false
        }
        return true
    }

    /// Decompression, tar structure, hostile entries and media type of one layer blob.
    private mutating func checkLayer(_ blob: BlobRecord, mediaType: String?, context: LayerContext) -> LayerReport? {
        func problem(_ code: String, _ message: String, path: String? = nil, expected: String? = nil, found: String? = nil)
            -> Problem
        {
            Problem(
                .error, code, message, image: context.image, platform: context.platform, layer: context.index,
                layerCount: context.count, digest: context.digest, path: path, expected: expected, found: found)
        }
        if let mediaType {
            if let announced = MediaType.layerCompression(mediaType) {
                if announced != blob.compression.rawValue {
                    problems.append(
                        problem(
                            "layer-media-type-mismatch",
                            "the media type \(mediaType) announces \(announced) data, the blob's first bytes say \(blob.compression)",
                            expected: announced, found: blob.compression.rawValue))
                }
            } else {
                problems.append(problem("unsupported-media-type", "\(mediaType) is not a layer media type"))
            }
        }
        guard let facts = blob.layer else {
            problems.append(problem("layer-not-tar", "the layer is neither a tar stream nor gzip or zstd compressed"))
            return nil
        }
        if let failure = facts.failure {
            problems.append(problem("layer-unreadable", "the layer cannot be read to its end: \(failure)"))
        }
        for entry in facts.entryProblems {
            problems.append(problem(entry.kind.rawValue, "hostile or invalid layer entry: \(entry.detail)", path: entry.path))
        }
        return LayerReport(
            index: context.index, digest: context.digest, mediaType: mediaType, compression: blob.compression.rawValue,
            size: blob.size, diffID: facts.diffID, uncompressedSize: facts.uncompressedSize, entries: facts.entryCount)
    }

    /// Layer count and per-position diff_ids of a manifest (or manifest.json entry) against its config.
    /// Returns whether they agree.
    private mutating func compareDiffIDs(
        layerCount: Int, diffIDs: [Digest], found layers: [LayerReport], image: String, platform: String?,
        describedBy source: String
    ) {
        if layerCount != diffIDs.count {
            problems.append(
                Problem(
                    .error, "layer-count-mismatch",
                    "\(source) lists \(layerCount) layers but the config's rootfs.diff_ids has \(diffIDs.count) entries (\"mismatched image rootfs and manifest layers\")",
                    image: image, platform: platform, expected: "\(diffIDs.count) layers",
                    found: "\(layerCount) layers"))
            return
        }
        let byIndex = Dictionary(layers.map { ($0.index, $0) }, uniquingKeysWith: { first, _ in first })
        var mismatches = 0
        for (position, expected) in diffIDs.enumerated() {
            guard let layer = byIndex[position], let actual = layer.diffID, actual != expected else { continue }
            mismatches += 1
            problems.append(
                Problem(
                    .error, "diff-id-mismatch",
                    "the layer's uncompressed content does not match the config's rootfs.diff_ids[\(position)]",
                    image: image, platform: platform, layer: position, layerCount: diffIDs.count,
                    digest: layer.digest, expected: expected.description, found: actual.description))
        }
        let actual = layers.compactMap(\.diffID)
        if mismatches > 0, actual.count == diffIDs.count, actual.sorted() == diffIDs.sorted() {
            problems.append(
                Problem(
                    .error, "layer-order-mismatch",
                    "\(source) has the right layers in the wrong order (\"wrong diff id calculated on extraction\")",
                    image: image, platform: platform))
        }
    }

    // MARK: docker save

    private mutating func checkDockerSave() -> [ImageReport] {
        guard let entries: [DockerManifestEntry] = decode("manifest.json", at: "manifest.json", image: nil) else {
            return []
        }
        return entries.enumerated().map { position, entry in
            var image = ImageReport(names: entry.repoTags ?? [], source: "manifest.json [\(position)]", target: nil)
            let errorsBefore = errorCount
            checkDockerSaveEntry(entry, image: &image)
            image.consistent = errorCount == errorsBefore
            return image
        }
    }

    private mutating func checkDockerSaveEntry(_ entry: DockerManifestEntry, image: inout ImageReport) {
        guard let configFile = contents.file(at: entry.config) else {
            problems.append(
                Problem(.error, "blob-missing", "the config file named by manifest.json is not in the archive",
                        image: image.label, path: entry.config))
            return
        }
        image.config = configFile.digest
        image.size += configFile.size
        // docker save names the config after its digest (`<hex>.json`); blobs/ paths were checked already.
        if let named = Self.blobDigest(entry.config), !entry.config.hasPrefix("blobs/"), named != configFile.digest {
            problems.append(
                Problem(
                    .error, "blob-digest-mismatch", "the config's bytes do not hash to its file name",
                    image: image.label, path: entry.config, expected: named.description,
                    found: configFile.digest.description))
        }
        guard let config: ImageConfig = decode("config", at: configFile.path, image: image.label) else { return }
        image.platform = config.platform?.description
        for (position, path) in entry.layers.enumerated() {
            guard let blob = contents.file(at: path) else {
                problems.append(
                    Problem(
                        .error, "blob-missing", "the layer file named by manifest.json is not in the archive",
                        image: image.label, platform: image.platform, layer: position, layerCount: entry.layers.count,
                        path: path))
                continue
            }
            let context = LayerContext(
                image: image.label, platform: image.platform, index: position, count: entry.layers.count,
                digest: blob.digest)
            if let report = checkLayer(blob, mediaType: nil, context: context) {
                image.layers.append(report)
                image.size += blob.size
                image.uncompressedSize += report.uncompressedSize
            }
        }
        compareDiffIDs(
            layerCount: entry.layers.count, diffIDs: config.rootfs.diffIDs, found: image.layers, image: image.label,
            platform: image.platform, describedBy: "manifest.json")
    }

    // MARK: Docker 25.0.0

    /// Compares the OCI description of an image with the legacy manifest.json one. Docker 25.0.0
    /// wrote OCI manifests whose layers disagree with the config (moby#47150, moby#47065) next to
    /// a correct manifest.json; containerd reads only the OCI side.
    private mutating func crossCheckDockerManifest(_ entries: [DockerManifestEntry], image: ImageReport) {
        guard let configDigest = image.config, let manifestDigest = image.manifest,
            let entry = entries.first(where: { Self.blobDigest($0.config) == configDigest }),
            let configBlob = contents.blob(configDigest), case .kept(let bytes) = configBlob.json,
            let config = try? JSONDecoder().decode(ImageConfig.self, from: Data(bytes))
        else { return }
        let legacyLayers = entry.layers.map { contents.file(at: $0) }
        let legacyDiffIDs = legacyLayers.map { $0?.layer?.diffID }
        let legacyConsistent = legacyDiffIDs.count == config.rootfs.diffIDs.count
            && zip(legacyDiffIDs, config.rootfs.diffIDs).allSatisfy { $0 == $1 }
        let ociDiffIDs = image.layers.sorted { $0.index < $1.index }.map(\.diffID)
        let ociConsistent = ociDiffIDs.count == config.rootfs.diffIDs.count
            && zip(ociDiffIDs, config.rootfs.diffIDs).allSatisfy { $0 == $1 }
        switch (ociConsistent, legacyConsistent) {
        case (false, true):
            problems.append(
                Problem(
                    .error, "docker25-manifest-defect",
                    "the OCI manifest \(manifestDigest) that index.json points at disagrees with the config's rootfs.diff_ids, while manifest.json lists the \(config.rootfs.diffIDs.count) layers consistently. This is the defect of Docker 25.0.0's `docker save` (moby#47150, moby#47065): save the image again with Docker ≥ 25.0.1 (manifest.json's description is the consistent one)",
                    image: image.label, platform: image.platform))
        case (true, false):
            problems.append(
                Problem(
                    .error, "docker-manifest-inconsistent",
                    "manifest.json's layers for config \(configDigest) disagree with the config's rootfs.diff_ids, while the OCI manifest \(manifestDigest) is consistent",
                    image: image.label, platform: image.platform))
        default:
            break
        }
    }

    // MARK: Helpers

    private func blobPath(_ digest: Digest) -> String { ArchiveContents.blobPath(digest) }

    /// The digest a `blobs/sha256/<hex>` or `<hex>.json` path names.
    static func blobDigest(_ path: String) -> Digest? {
        guard let last = path.split(separator: "/").last else { return nil }
        let name = last.hasSuffix(".json") ? last.dropLast(5) : last
        return Digest(hex: String(name))
    }

    static func names(_ descriptor: Descriptor) -> [String] {
        var names: [String] = []
        for key in [AnnotationKey.containerdImageName, AnnotationKey.ociRefName] {
            if let name = descriptor.annotations?[key], !name.isEmpty, !names.contains(name) { names.append(name) }
        }
        return names
    }

    /// Decodes a kept JSON document, recording why it cannot be.
    private mutating func decode<T: Decodable>(_ role: String, at path: String, image: String?) -> T? {
        guard let file = contents.file(at: path) else {
            problems.append(Problem(.error, "blob-missing", "the \(role) is not in the archive", image: image, path: path))
            return nil
        }
        switch file.json {
        case .kept(let bytes):
            do {
                return try JSONDecoder().decode(T.self, from: Data(bytes))
            } catch {
                problems.append(
                    Problem(
                        .error, "json-malformed", "the \(role) is not a valid document: \(Self.describe(error))",
                        image: image, path: path))
            }
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
}

/// Reads just the top-level keys of a JSON object and its `mediaType`, to classify documents
/// whose descriptor has no media type.
enum JSONSerializationLite {
    struct TopLevel: Decodable {
        var keys: Set<String>
        var mediaType: String?

        struct AnyKey: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: AnyKey.self)
            keys = Set(container.allKeys.map(\.stringValue))
            mediaType = try? container.decode(String.self, forKey: AnyKey(stringValue: "mediaType"))
        }
    }

    static func topLevelKeys(_ bytes: [UInt8]) throws -> TopLevel {
        try JSONDecoder().decode(TopLevel.self, from: Data(bytes))
    }
}
