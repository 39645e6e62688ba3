import Core
import Synchronization
import OCI
import Verification

/// Decoding the layers found the archive inconsistent; `verdict` says how.
struct ArchiveRefused: Error {
    var verdict: VerifiedArchive
}

/// Phases 4–5 of docs/import-design.md (the verdict, phase 3, is `Importer`'s), for an archive that verified clean and was spooled, under
/// the import's lease: content and snapshots at the same time, then the image records last, all
/// or none. What to store, with which labels, comes from what verification proved; nothing here
/// reads the archive's JSON again.
///
/// `@unchecked Sendable`: content and unpack run concurrently and share it read-only (the spool
/// gains files only in the docker-save step before them).
@available(macOS 15.0, *)
struct ImportTransaction: @unchecked Sendable {
    let options: ImportOptions
    let verified: VerifiedArchive
    let spool: Spool
    let session: ImportSession
    var progress: (@Sendable (ImportProgress) -> Void)?
    /// Sends the blobs that arrived while the archive was read; the content phase waits for it
    /// and sends the rest; all stay uncommitted until the verdict.
    var earlyUploads: EarlyUploader?

    /// Decodes the pending layers (`LayerDecoding.deferred`) and makes the verdict from them.
    let verifier: ArchiveVerifier
    /// The layers the node had unpacked already, whose blobs the spool skipped.
    var known = KnownLayers()

    /// Runs the phases; returns the summary and the verdict (the archive as `verify` checks it).
    /// - Throws: `ArchiveRefused` when decoding the layers found the archive inconsistent:
    ///   nothing was committed that the lease does not hold alone.
    func run() async throws -> (ImportSummary, VerifiedArchive) {
        var blobs = archiveBlobs()
        let spooled = blobs
        let keepLayers = !options.discardLayers
        // discard_unpacked_layers: the blobs manifests name as layers are not stored.
        if !keepLayers { for digest in layerDigests() { blobs[digest] = nil } }
        var labels: [Digest: [String: String]] = [:]
        var targets: [Descriptor] = []
        for image in verified.images {
            if let target = image.target {
                targets.append(target)
            } else {
                // Docker ≤ 24: no manifest in the archive; write the one ctr would (Docker schema 2).
                let (manifest, bytes) = try DockerSaveManifest.make(for: image)
                let digest = Digest.of(bytes)
                blobs[digest] = ContentPhase.Blob(size: Int64(bytes.count), spooled: try spool.add(bytes))
                labels[digest] = GCLabels.references(of: .manifest(manifest), layers: keepLayers)
                targets.append(Descriptor(mediaType: MediaType.dockerManifest, digest: digest, size: Int64(bytes.count)))
            }
        }
        for (digest, document) in verified.documents {
            labels[digest, default: [:]].merge(GCLabels.references(of: document, layers: keepLayers)) { _, new in new }
        }

        // Content and snapshots are independent until the verdict: containerd hashes and
        // writes the blobs while this process decodes and unpacks the layers, and the pending
        // layers no image of this node needs are decoded on a thread of their own meanwhile.
        // The blobs stay uncommitted ingests until the verdict; a snapshot is committed once
        // its own layer matched its diff_id.
        let start = MonotonicClock.nanoseconds()
        let contentPhase = ContentPhase(session: session, progress: progress)
        let (allBlobs, early) = (blobs, earlyUploads)
        let content = Task {
            var stored = try await contentPhase.store(allBlobs, earlyUploads: early)
            stored.seconds = MonotonicClock.seconds(since: start)
            return stored
        }
        let facts = LayerFactsBook()
        let unpackedPaths = Set(verified.images.flatMap { $0.layers.map(\.path) })
        let others = inspect(verified.contents.pendingLayers.filter { !unpackedPaths.contains($0) }, into: facts)
        // The verdict, then the commits: once, at the end of the unpack or when a layer left to
        // containerd's Diff.Apply needs its blob committed.
        let transaction = self
        let (documentLabels, snapshotter, session) = (labels, options.snapshotter, session)
        let settlement = Settlement { () async throws -> (VerifiedArchive, ContentPhase.Stored, ContentPhase.Committed) in
            var failure = await others.value
            if failure == nil {
                let decoded = facts.all
                failure = await transaction.inspect(
                    transaction.verified.contents.pendingLayers.filter { decoded[$0] == nil }, into: facts
                ).value
            }
            await Failpoint.verdict.reached()
            let verdict = transaction.verifier.verdict(transaction.verified, layers: facts.all)
            guard verdict.consistent, failure == nil else {
                await session.ingests.abortAll(session)
                content.cancel()
                _ = try? await content.value
                if let failure { throw failure }
                throw ArchiveRefused(verdict: verdict)
            }
            let stored = try await content.value
            var labels = documentLabels
            for image in verdict.images {
                GCLabels.merge(&labels, GCLabels.unpacked(image, snapshotter: snapshotter, layers: keepLayers))
            }
            return (verdict, stored, try await contentPhase.commit(stored, labels: labels))
        }
        let unpack = UnpackPhase(
            session: session, snapshotter: options.snapshotter, unpacker: options.unpacker, verifier: verifier,
            facts: facts, known: known, spoolDirectory: spool.directory, misnamed: spool.misnamed, progress: progress)
        var imported: [ImportedImage] = []
        let date = UTCTime.format(UTCTime.now(), "%Y-%m-%d")
        var refused = false
        do {
            for (image, target) in zip(verified.images, targets) {
                let (unpacked, reused) = try await unpack.unpack(image, blobs: spooled) { _ = try await settlement.value() }
                imported.append(
                    ImportedImage(
                        names: ImageRecords.names(for: image, target: target.digest, digestNames: options.digestNames, date: date),
                        target: target, platform: image.platform, layersUnpacked: unpacked, layersReused: reused))
            }
        } catch is LayerRefused {
            refused = true
        } catch {
            await session.ingests.abortAll(session)
            content.cancel()
            _ = try? await content.value
            _ = await others.value
            throw error
        }
        let unpackSeconds = MonotonicClock.seconds(since: start)
        // Layers not applied here (reused chains, Diff.Apply) are decoded from the spool first.
        let (verdict, stored, committed) = try await settlement.value()
        if refused {
            throw ImportError.unsupported("a layer was refused while unpacking, but the archive verifies: report this as a bug")
        }
        var phases = [
            PhaseTime(phase: "content", seconds: stored.seconds), PhaseTime(phase: "unpack", seconds: unpackSeconds),
            PhaseTime(phase: "commit", seconds: committed.seconds),
        ]
        let recordsStart = MonotonicClock.nanoseconds()
        await Failpoint.records.reached()
        guard options.interruption?.beginCommit() ?? true else { throw CancellationError() }
        do {
            try await ImageRecords(session: session).write(imported)
            options.interruption?.endCommit(committed: true)
        } catch {
            options.interruption?.endCommit(committed: false)
            throw error
        }
        phases.append(PhaseTime(phase: "records", seconds: MonotonicClock.seconds(since: recordsStart)))
        let summary = ImportSummary(
            images: imported, blobsStored: committed.stored, blobsPresent: committed.present,
            layersDecoded: facts.decoded, layersNotSpooled: spool.skipped.count, layerBlobsKept: keepLayers, phases: phases)
        return (summary, verdict)
    }

    /// Decodes `paths`' spooled copies on a thread of their own, into `facts`; returns the
    /// error that stopped it (a spooled copy that cannot be read). A layer the spool skipped is
    /// taken as what the node knows it decompresses to.
    private func inspect(_ paths: [String], into facts: LayerFactsBook) -> Task<(any Error)?, Never> {
        let verifier = verifier
        let files = paths.map { ($0, spool.file(for: $0), spool.skipped[$0].flatMap { known.byBlob[$0] }) }
        let misnamed = spool.misnamed
        return Task {
            guard !files.isEmpty else { return nil }
            let result = await OffThread.run(Unchecked(files)) { files in
                for (path, file, held) in files.value {
                    if let file {
                        if let found = try verifier.inspectLayer(file: file, path: path) { facts.record(found, for: path) }
                    } else if let held {
                        facts.record(LayerFacts(diffID: held.diffID, uncompressedSize: 0, entryCount: 0), for: path, decoded: false)
                    } else if let named = misnamed[path] {
                        throw ImportError.fileNotSpooled(path: path, named: named)
                    } else {
                        throw ImportError.unsupported("the layer \(path) is not in the spool")
                    }
                }
            }
            if case .failure(let error) = result { return error }
            return nil
        }
    }

    /// The blobs any manifest of the archive (or docker save's manifest.json) names as a layer.
    private func layerDigests() -> Set<Digest> {
        var digests = Set(verified.images.flatMap { $0.layers.map(\.digest) })
        for case .manifest(let manifest) in verified.documents.values {
            for layer in manifest.layers { digests.insert(layer.digest) }
        }
        return digests
    }

    /// Every blob of an OCI layout (`blobs/sha256/<hex>`, all stored as `ctr import` does) and
    /// docker save's configs and layer files, with their spooled copies.
    private func archiveBlobs() -> [Digest: ContentPhase.Blob] {
        var blobs: [Digest: ContentPhase.Blob] = [:]
        for (path, file) in verified.contents.files {
            guard let digest = ArchiveContents.blobDigest(atPath: path) else { continue }
            if let spooled = spool.file(for: path) {
                blobs[digest] = ContentPhase.Blob(size: file.size, spooled: spooled)
            } else if spool.skipped[path] == digest, blobs[digest] == nil {
                blobs[digest] = ContentPhase.Blob(size: file.size, spooled: nil)
            }
        }
        for image in verified.images where image.target == nil {
            if let config = image.config, let path = image.configPath, let spooled = spool.file(for: path) {
                blobs[config.digest] = ContentPhase.Blob(size: config.size, spooled: spooled)
            }
            for layer in image.layers {
                if let spooled = spool.file(for: layer.path) {
                    blobs[layer.digest] = ContentPhase.Blob(size: layer.descriptor.size, spooled: spooled)
                } else if spool.skipped[layer.path] == layer.digest, blobs[layer.digest] == nil {
                    blobs[layer.digest] = ContentPhase.Blob(size: layer.descriptor.size, spooled: nil)
                }
            }
        }
        return blobs
    }
}

/// Something made once, by whichever caller asks first; the others wait for the same result.
@available(macOS 15.0, *)
final class Settlement<Value: Sendable>: Sendable {
    private let body: @Sendable () async throws -> Value
    private let task = Mutex<Task<Value, any Error>?>(nil)

    init(_ body: @escaping @Sendable () async throws -> Value) { self.body = body }

    func value() async throws -> Value {
        let task = task.withLock { task in
            if let task { return task }
            let body = body
            let started = Task { try await body() }
            task = started
            return started
        }
        return try await task.value
    }
}
