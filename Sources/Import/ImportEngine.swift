import ContainerdAPI
import Core
import GRPCCore
import LayerApplier
import OCI
import Verification

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What to import and where.
public struct ImportOptions: Sendable {
    public var socket: String
    public var namespace: String
    public var snapshotter: String
    public var platform: Platform
    public var digestNames: Bool
    /// How long containerd keeps what an interrupted import wrote before GC may collect it.
    public var leaseExpiry: Int
    /// Import a Docker 25.0.0 archive as its consistent manifest.json describes it.
    public var repair: Bool
    /// Who unpacks layers into snapshots.
    public var unpacker: Unpacker
    /// Store each blob while the rest of the archive is read (under the lease, its digest
    /// checked, referenced by nothing until the whole archive verified) instead of after.
    public var storeWhileReading: Bool

    public enum Unpacker: String, Sendable, CaseIterable {
        /// Our applier for bind and overlay mounts (native, overlayfs), containerd's
        /// `Diff.Apply` for any other mount.
        case auto
        /// containerd's `Diff.Apply` for every layer.
        case containerd

    }

    public init(
        socket: String, namespace: String, snapshotter: String, platform: Platform, digestNames: Bool,
        leaseExpiry: Int = 3600, repair: Bool = false, unpacker: Unpacker = .auto, storeWhileReading: Bool = true
    ) {
        self.storeWhileReading = storeWhileReading
        self.repair = repair
        self.unpacker = unpacker
        self.socket = socket
        self.namespace = namespace
        self.snapshotter = snapshotter
        self.platform = platform
        self.digestNames = digestNames
        self.leaseExpiry = leaseExpiry
    }
}

/// What an import did, per image.
public struct ImportedImage: Sendable {
    public var names: [String]
    /// What the records point at: the archive's index or manifest (docker-save: the manifest we wrote).
    public var target: Containerd_Types_Descriptor
    public var platform: String?
    public var layersUnpacked: Int
    public var layersReused: Int
}

public struct ImportSummary: Sendable {
    public var images: [ImportedImage]
    public var blobsStored: Int
    public var blobsPresent: Int
    /// Wall time of each phase, in the order they started (phases may overlap).
    public var phases: [PhaseTime] = []
    /// What the user should know about how the archive was read (a repair, for one).
    public var notes: [String] = []
}

/// What an import is doing, for a progress line.
public enum ImportProgress: Sendable {
    /// Bytes of the archive read (and verified) so far.
    case read(Int64)
    /// Blobs in containerd's content store so far, of all the import stores.
    case stored(Int, of: Int)
    /// Layer `layer` (1-based) of `of` of an image is being unpacked.
    case unpacking(image: String, layer: Int, of: Int)
}

/// How long one phase of an import took.
public struct PhaseTime: Sendable, Codable {
    public var phase: String
    public var seconds: Double
}

/// Why an import stopped. Nothing it created stays visible: the lease is deleted and no image
/// record was created or changed (or every one was restored).
public enum ImportError: Error, CustomStringConvertible {
    /// containerd cannot be reached or refused a call.
    case containerd(String)
    /// Applying a layer failed.
    case unpack(image: String, layer: Int, digest: Digest, reason: String)
    /// The archive uses something this importer does not handle yet.
    case unsupported(String)

    /// The archive's content is at fault (exit 65), not containerd or this node (exit 69).
    public var isDataError: Bool {
        switch self {
        case .unpack: return true
        case .containerd, .unsupported: return false
        }
    }

    public var description: String {
        switch self {
        case .containerd(let message): return "containerd: \(message)"
        case .unpack(let image, let layer, let digest, let reason):
            return "\(image): layer \(layer + 1) \(digest): \(reason)"
        case .unsupported(let what): return what
        }
    }
}

/// Phases 2–6 of docs/import-design.md, for an archive that verified clean and was spooled:
/// lease, content, snapshots, then the image records last, all or none.
///
/// `@unchecked Sendable`: content and unpack run concurrently and share it read-only (the spool
/// gains files only in the docker-save step before them).
@available(macOS 15.0, *)
struct ImportTransaction: @unchecked Sendable {
    let options: ImportOptions
    let report: VerificationReport
    let contents: ArchiveContents
    let spool: Spool
    let containerd: ContainerdConnection
    let lease: String
    var progress: (@Sendable (ImportProgress) -> Void)?
    /// Stores the OCI blobs that arrived while the archive was read; the content phase waits
    /// for it, then labels what it stored (under the lease, without labels so far).
    var earlyUploads: EarlyUploader?

    var metadata: Metadata { containerd.metadata(lease: lease) }

    func run() async throws -> ImportSummary {
        var blobs = ociBlobs()
        var labels: [Digest: [String: String]] = [:]
        var targets: [Containerd_Types_Descriptor] = []
        if report.format == "docker-save" {
            // Docker ≤ 24: no manifest in the archive; write the one ctr would (Docker schema 2).
            let entries = try dockerManifestEntries()
            for (image, entry) in zip(report.images, entries) {
                targets.append(try synthesizeManifest(for: image, entry: entry, blobs: &blobs, labels: &labels))
            }
        } else {
            for image in report.images {
                guard let target = image.target, let file = contents.blob(target) else {
                    throw ImportError.unsupported("\(image.label): no target blob")
                }
                targets.append(.with {
                    $0.mediaType = Self.mediaType(of: file)
                    $0.digest = target.description
                    $0.size = file.size
                })
            }
            collectDocumentLabels(into: &labels)
        }
        // Labels first: they depend on the config's chain IDs and are set when blobs are stored.
        for image in report.images { collectLayerLabels(for: image, into: &labels) }
        // Content and snapshots are independent until the records: containerd hashes and writes
        // the blobs while this process unpacks the layers. Only a layer left to containerd's
        // Diff.Apply (which reads it from the content store) waits for the content.
        let start = MonotonicClock.nanoseconds()
        let (allBlobs, allLabels) = (blobs, labels)
        let content = Task { [self] in
            let (stored, present) = try await storeBlobs(allBlobs, labels: allLabels)
            return (stored, present, MonotonicClock.seconds(since: start))
        }
        var imported: [ImportedImage] = []
        do {
            for (image, target) in zip(report.images, targets) {
                imported.append(try await unpack(image, target: target, blobs: blobs, content: content))
            }
        } catch {
            content.cancel()
            _ = try? await content.value
            throw error
        }
        let unpackSeconds = MonotonicClock.seconds(since: start)
        let (stored, present, contentSeconds) = try await content.value
        var phases = [
            PhaseTime(phase: "content", seconds: contentSeconds), PhaseTime(phase: "unpack", seconds: unpackSeconds),
        ]
        let recordsStart = MonotonicClock.nanoseconds()
        try await writeRecords(for: imported)
        phases.append(PhaseTime(phase: "records", seconds: MonotonicClock.seconds(since: recordsStart)))
        return ImportSummary(images: imported, blobsStored: stored, blobsPresent: present, phases: phases)
    }

    /// A blob to store: its size and spooled copy.
    typealias Blob = (size: Int64, spooled: String)

    /// The blobs of an OCI layout (`blobs/sha256/<hex>`), all stored as `ctr import` does.
    private func ociBlobs() -> [Digest: Blob] {
        var blobs: [Digest: Blob] = [:]
        for (path, file) in contents.files {
            if let digest = ArchiveContents.blobDigest(atPath: path), let spooled = spool.file(for: path) {
                blobs[digest] = (file.size, spooled)
            }
        }
        return blobs
    }

    private func dockerManifestEntries() throws -> [DockerManifestEntry] {
        guard let file = contents.file(at: "manifest.json"), case .kept(let bytes) = file.json else {
            throw ImportError.unsupported("manifest.json is not readable")
        }
        return try JSONDecoder().decode([DockerManifestEntry].self, from: Data(bytes))
    }

    /// Adds a docker-save image's config and layers to `blobs`, writes a Docker schema 2
    /// manifest for them into the spool, and returns its descriptor (the record's target).
    private func synthesizeManifest(
        for image: ImageReport, entry: DockerManifestEntry, blobs: inout [Digest: Blob],
        labels: inout [Digest: [String: String]]
    ) throws -> Containerd_Types_Descriptor {
        guard let configFile = contents.file(at: entry.config), let configSpool = spool.file(for: configFile.path) else {
            throw ImportError.unsupported("\(image.label): config \(entry.config) is not in the spool")
        }
        blobs[configFile.digest] = (configFile.size, configSpool)
        var layers: [Descriptor] = []
        for path in entry.layers {
            guard let file = contents.file(at: path), let spooled = spool.file(for: file.path) else {
                throw ImportError.unsupported("\(image.label): layer \(path) is not in the spool")
            }
            blobs[file.digest] = (file.size, spooled)
            let mediaType: String =
                switch file.compression {
                case .gzip: MediaType.dockerLayerGzip
                case .zstd: MediaType.ociLayerZstd
                case .none: MediaType.dockerLayer
                }
            layers.append(Descriptor(mediaType: mediaType, digest: file.digest, size: file.size))
        }
        let manifest = Manifest(
            schemaVersion: 2, mediaType: MediaType.dockerManifest,
            config: Descriptor(mediaType: MediaType.dockerConfig, digest: configFile.digest, size: configFile.size),
            layers: layers, annotations: nil)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let bytes = [UInt8](try encoder.encode(manifest))
        let digest = Digest.of(bytes)
        blobs[digest] = (Int64(bytes.count), try spool.add(bytes))
        labels[digest, default: [:]]["containerd.io/gc.ref.content.config"] = configFile.digest.description
        for (position, layer) in layers.enumerated() {
            labels[digest, default: [:]]["containerd.io/gc.ref.content.l.\(position)"] = layer.digest.description
        }
        return .with {
            $0.mediaType = MediaType.dockerManifest
            $0.digest = digest.description
            $0.size = Int64(bytes.count)
        }
    }

    // MARK: Content

    /// GC references of the archive's indexes and manifests (docs/import-design.md, phase 3).
    private func collectDocumentLabels(into labels: inout [Digest: [String: String]]) {
        for (digest, file) in contents.files.compactMap({ path, file in ArchiveContents.blobDigest(atPath: path).map { ($0, file) } }) {
            guard case .kept(let bytes) = file.json else { continue }
            if let index = try? JSONDecoder().decode(Index.self, from: Data(bytes)) {
                for (position, child) in index.manifests.enumerated() {
                    labels[digest, default: [:]]["containerd.io/gc.ref.content.m.\(position)"] = child.digest.description
                }
            } else if let manifest = try? JSONDecoder().decode(Manifest.self, from: Data(bytes)) {
                labels[digest, default: [:]]["containerd.io/gc.ref.content.config"] = manifest.config.digest.description
                for (position, layer) in manifest.layers.enumerated() {
                    labels[digest, default: [:]]["containerd.io/gc.ref.content.l.\(position)"] = layer.digest.description
                }
            }
        }
    }

    /// Layers → their diff_id; config → the top snapshot of the unpacked platform.
    private func collectLayerLabels(for image: ImageReport, into labels: inout [Digest: [String: String]]) {
        let diffIDs = image.layers.compactMap(\.diffID)
        for layer in image.layers {
            if let diffID = layer.diffID {
                labels[layer.digest, default: [:]]["containerd.io/uncompressed"] = diffID.description
            }
        }
        if let config = image.config, let top = chainIDs(diffIDs).last {
            labels[config, default: [:]]["containerd.io/gc.ref.snapshot.\(options.snapshotter)"] = top.description
        }
    }

    /// Every blob of the archive into the content store (as `ctr import` does); present ones get
    /// their labels updated. Returns (stored, already present).
    private func storeBlobs(_ blobs: [Digest: Blob], labels: [Digest: [String: String]]) async throws -> (Int, Int) {
        var stored = 0
        var present = 0
        let storedEarly = await earlyUploads?.finish() ?? []
        var missing: [(Digest, Blob)] = []
        for (digest, blob) in blobs.sorted(by: { $0.key < $1.key }) {
            let wanted = labels[digest] ?? [:]
            if storedEarly.contains(digest) {
                stored += 1
                try await label(digest, missing: wanted)
            } else if let info = try await existingInfo(digest) {
                present += 1
                try await adopt(digest, info: info, labels: wanted)
            } else {
                missing.append((digest, blob))
            }
            progress?(.stored(stored + present, of: blobs.count))
        }
        // The rest, `ContentWriter.streams` at a time (containerd hashes each stream on one goroutine).
        let writer = ContentWriter(socket: options.socket, namespace: options.namespace, lease: lease)
        try await withThrowingTaskGroup(of: Bool.self) { group in
            var next = missing.makeIterator()
            func start(_ digest: Digest, _ blob: Blob) {
                let wanted = labels[digest] ?? [:]
                group.addTask { [self] in
                    do {
                        try await writer.write(file: blob.spooled, size: blob.size, digest: digest, labels: wanted)
                        return true
                    } catch let error as RPCError where error.code == .alreadyExists {
                        // Another import stored it meanwhile.
                        if let info = try await existingInfo(digest) { try await adopt(digest, info: info, labels: wanted) }
                        return false
                    }
                }
            }
            for _ in 0..<ContentWriter.streams {
                if let (digest, blob) = next.next() { start(digest, blob) }
            }
            while let written = try await group.next() {
                if written { stored += 1 } else { present += 1 }
                progress?(.stored(stored + present, of: blobs.count))
                if let (digest, blob) = next.next() { start(digest, blob) }
            }
        }
        return (stored, present)
    }

    /// A blob that was already there: held by our lease until the records exist (another
    /// import's lease may go away first) and given the labels this image needs.
    private func adopt(_ digest: Digest, info: Containerd_Services_Content_V1_Info, labels: [String: String])
        async throws
    {
        try await holdResource(digest.description, type: "content")
        try await label(digest, missing: labels.filter { info.labels[$0.key] != $0.value })
    }

    /// Sets `missing` labels on a stored blob (`Content.Update` with a mask of just those keys).
    private func label(_ digest: Digest, missing: [String: String]) async throws {
        guard !missing.isEmpty else { return }
        _ = try await containerd.content.update(
            .with {
                $0.info = .with { info in
                    info.digest = digest.description
                    info.labels = missing
                }
                $0.updateMask = .with { $0.paths = missing.keys.map { "labels.\($0)" } }
            }, metadata: metadata)
    }

    /// Adds an existing resource to our lease, so GC keeps it until the import ends.
    private func holdResource(_ id: String, type: String) async throws {
        _ = try await containerd.leases.addResource(
            .with {
                $0.id = lease
                $0.resource = .with {
                    $0.id = id
                    $0.type = type
                }
            }, metadata: containerd.metadata())
    }

    private func existingInfo(_ digest: Digest) async throws -> Containerd_Services_Content_V1_Info? {
        do {
            return try await containerd.content.info(.with { $0.digest = digest.description }, metadata: metadata).info
        } catch let error as RPCError where error.code == .notFound {
            return nil
        }
    }

    // MARK: Snapshots

    /// The content phase: its counts (stored, present) and duration.
    typealias ContentTask = Task<(Int, Int, Double), any Error>

    private func unpack(
        _ image: ImageReport, target: Containerd_Types_Descriptor, blobs: [Digest: Blob], content: ContentTask
    ) async throws -> ImportedImage {
        let diffIDs = image.layers.compactMap(\.diffID)
        let chains = chainIDs(diffIDs)
        var unpacked = 0
        var reused = 0
        for (position, layer) in image.layers.enumerated() {
            progress?(.unpacking(image: image.label, layer: position + 1, of: image.layers.count))
            let chain = chains[position]
            if try await isCommitted(chain) {
                try await holdResource(chain.description, type: "snapshots/\(options.snapshotter)")
                reused += 1
                continue
            }
            let key = "extract-\(UInt64.random(in: 0...UInt64.max))-\(chain.hex)"
            let mounts: [Containerd_Types_Mount]
            do {
                mounts = try await containerd.snapshots.prepare(
                    .with {
                        $0.snapshotter = options.snapshotter
                        $0.key = key
                        $0.parent = position > 0 ? chains[position - 1].description : ""
                        // containerd refuses the Prepare (AlreadyExists) once this chain is committed.
                        $0.labels = ["containerd.io/snapshot.ref": chain.description]
                    }, metadata: metadata
                ).mounts
            } catch let error as RPCError where error.code == .alreadyExists {
                // Another import committed this chain since the Stat above: use theirs.
                try await holdResource(chain.description, type: "snapshots/\(options.snapshotter)")
                reused += 1
                continue
            }
            do {
                if options.unpacker == .auto, let (root, mode) = Self.ownApplierTarget(mounts) {
                    try apply(layer, of: image, at: position, into: root, mode: mode, from: blobs[layer.digest])
                } else {
                    _ = try await content.value  // Diff.Apply reads the blob from the content store
                    try await applyWithContainerd(layer, of: image, at: position, expected: diffIDs[position], into: mounts)
                }
            } catch {
                _ = try? await containerd.snapshots.remove(.with { $0.snapshotter = options.snapshotter; $0.key = key }, metadata: metadata)
                throw error
            }
            do {
                _ = try await containerd.snapshots.commit(
                    .with {
                        $0.snapshotter = options.snapshotter
                        $0.name = chain.description
                        $0.key = key
                    }, metadata: metadata)
                unpacked += 1
            } catch let error as RPCError where error.code == .alreadyExists {
                // Another import committed the same chain meanwhile: use theirs.
                _ = try? await containerd.snapshots.remove(.with { $0.snapshotter = options.snapshotter; $0.key = key }, metadata: metadata)
                try await holdResource(chain.description, type: "snapshots/\(options.snapshotter)")
                reused += 1
            }
        }
        return ImportedImage(
            names: try recordNames(image, target: target), target: target, platform: image.platform,
            layersUnpacked: unpacked, layersReused: reused)
    }

    private func isCommitted(_ chain: Digest) async throws -> Bool {
        do {
            let info = try await containerd.snapshots.stat(
                .with {
                    $0.snapshotter = options.snapshotter
                    $0.key = chain.description
                }, metadata: metadata
            ).info
            return info.kind == .committed
        } catch let error as RPCError where error.code == .notFound {
            return false
        }
    }

    /// Where and how our applier writes into a snapshot's mounts: one bind mount (plain, into
    /// its source) or one overlay mount with an upperdir (overlay upper above its lowerdirs,
    /// `userxattr` honoured); nil for anything else, which containerd's Diff.Apply unpacks.
    static func ownApplierTarget(_ mounts: [Containerd_Types_Mount]) -> (String, ApplyMode)? {
        guard mounts.count == 1, let mount = mounts.first else { return nil }
        func option(_ name: String) -> String? {
            mount.options.first { $0.hasPrefix(name + "=") }.map { String($0.dropFirst(name.count + 1)) }
        }
        switch mount.type {
        case "bind":
            return (mount.source, .plain)
        case "overlay":
            guard let upper = option("upperdir") else { return nil }
            let lowers = option("lowerdir").map { $0.split(separator: ":").map(String.init) } ?? []
            return (upper, .overlayUpper(lowers: lowers, userXattr: mount.options.contains("userxattr")))
        default:
            return nil
        }
    }

    /// containerd's `Diff.Apply` (for mounts our applier does not write into): containerd reads
    /// the stored blob, applies it and returns the digest of what it applied, which must be the
    /// config's diff_id.
    private func applyWithContainerd(
        _ layer: LayerReport, of image: ImageReport, at position: Int, expected: Digest, into mounts: [Containerd_Types_Mount]
    ) async throws {
        let mediaType =
            layer.mediaType
            ?? (layer.compression == "gzip"
                ? MediaType.dockerLayerGzip : layer.compression == "zstd" ? MediaType.ociLayerZstd : MediaType.dockerLayer)
        let applied: Containerd_Types_Descriptor
        do {
            applied = try await containerd.diff.apply(
                .with {
                    $0.diff = .with {
                        $0.mediaType = mediaType
                        $0.digest = layer.digest.description
                        $0.size = layer.size
                    }
                    $0.mounts = mounts
                }, metadata: metadata
            ).applied
        } catch let error as RPCError {
            throw ImportError.containerd(
                "\(image.label): containerd's Diff.Apply of layer \(position + 1) \(layer.digest) failed: \(error.message) (\(error.code))")
        }
        guard applied.digest == expected.description else {
            throw ImportError.unpack(
                image: image.label, layer: position, digest: layer.digest,
                reason: "containerd applied it as \(applied.digest), the config says \(expected)")
        }
    }

    /// Applies one layer from the spool into the snapshot's mounts with our applier.
    private func apply(
        _ layer: LayerReport, of image: ImageReport, at position: Int, into root: String, mode: ApplyMode, from blob: Blob?
    ) throws {
        guard let spooled = blob?.spooled else {
            throw ImportError.unpack(image: image.label, layer: position, digest: layer.digest, reason: "not in the spool")
        }
        // The read pass proved that this blob decompresses to the config's diff_id. Hashing the
        // spooled blob again proves these are the same bytes, so the applied stream is that one.
        let applied: AppliedLayer
        do {
            let application = try LayerApplication(root: root, mode: mode, checking: .blob)
            try InputFile(path: spooled).forEachChunk { try application.feed($0) }
            applied = try application.finish()
        } catch {
            throw ImportError.unpack(image: image.label, layer: position, digest: layer.digest, reason: "\(error)")
        }
        guard let found = applied.blobDigest, found == layer.digest else {
            throw ImportError.unpack(
                image: image.label, layer: position, digest: layer.digest,
                reason: "its spooled copy changed after it was verified (it hashes to \(applied.blobDigest?.description ?? "nothing"))")
        }
    }

    // MARK: Records

    /// Names as CRI looks them up: io.containerd.image.name, a full ref.name or RepoTags,
    /// normalized; with --digests (or without any name) `import-<date>@<manifest digest>`.
    private func recordNames(_ image: ImageReport, target: Containerd_Types_Descriptor) throws -> [String] {
        var names: [String] = []
        for name in image.names where name.contains("/") || name.contains(":") {
            if let normalized = try? ImageReference(normalizing: name).description, !names.contains(normalized) {
                names.append(normalized)
            }
        }
        if options.digestNames || names.isEmpty {
            names.append("import-\(UTCTime.format(UTCTime.now(), "%Y-%m-%d"))@\(target.digest)")
        }
        return names
    }

    /// Creates or updates every record; on any failure restores what was there: all or none.
    private func writeRecords(for images: [ImportedImage]) async throws {
        var undo: [(name: String, previous: Containerd_Services_Images_V1_Image?)] = []
        do {
            for image in images {
                let target = image.target
                for name in image.names {
                    var previous = try await existingImage(name)
                    let record = Containerd_Services_Images_V1_Image.with {
                        $0.name = name
                        $0.target = target
                    }
                    if previous == nil {
                        do {
                            _ = try await containerd.images.create(.with { $0.image = record }, metadata: containerd.metadata())
                            undo.append((name, nil))
                            continue
                        } catch let error as RPCError where error.code == .alreadyExists {
                            // Created by another import meanwhile: update it like any existing record.
                            previous = try await existingImage(name)
                        }
                    }
                    _ = try await containerd.images.update(
                        .with {
                            $0.image = record
                            $0.updateMask = .with { $0.paths = ["target"] }
                        }, metadata: containerd.metadata())
                    undo.append((name, previous))
                }
            }
        } catch {
            for (name, previous) in undo.reversed() {
                if let previous {
                    _ = try? await containerd.images.update(
                        .with {
                            $0.image = previous
                            $0.updateMask = .with { $0.paths = ["target"] }
                        }, metadata: containerd.metadata())
                } else {
                    _ = try? await containerd.images.delete(.with { $0.name = name }, metadata: containerd.metadata())
                }
            }
            throw error
        }
    }

    private func existingImage(_ name: String) async throws -> Containerd_Services_Images_V1_Image? {
        do {
            return try await containerd.images.get(.with { $0.name = name }, metadata: containerd.metadata()).image
        } catch let error as RPCError where error.code == .notFound {
            return nil
        }
    }

    /// The media type a record's target needs: the document's own, else guessed from its keys.
    static func mediaType(of file: BlobRecord) -> String {
        guard case .kept(let bytes) = file.json,
            let document = try? JSONDecoder().decode(MediaTypeProbe.self, from: Data(bytes))
        else { return MediaType.ociManifest }
        if let type = document.mediaType { return type }
        return document.manifests != nil ? MediaType.ociIndex : MediaType.ociManifest
    }

    private struct MediaTypeProbe: Decodable {
        var mediaType: String?
        var manifests: [Descriptor]?
    }
}
