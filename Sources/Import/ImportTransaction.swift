import Core
import OCI
import Verification

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
    /// Stores the blobs that arrived while the archive was read; the content phase waits for it,
    /// then labels what it stored (under the lease, without labels so far).
    var earlyUploads: EarlyUploader?

    func run() async throws -> ImportSummary {
        var blobs = archiveBlobs()
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
                labels[digest] = GCLabels.references(of: .manifest(manifest))
                targets.append(Descriptor(mediaType: MediaType.dockerManifest, digest: digest, size: Int64(bytes.count)))
            }
            GCLabels.merge(&labels, GCLabels.unpacked(image, snapshotter: options.snapshotter))
        }
        for (digest, document) in verified.documents { labels[digest, default: [:]].merge(GCLabels.references(of: document)) { _, new in new } }

        // Content and snapshots are independent until the records: containerd hashes and writes
        // the blobs while this process unpacks the layers. Only a layer left to containerd's
        // Diff.Apply (which reads it from the content store) waits for the content.
        let start = MonotonicClock.nanoseconds()
        let contentPhase = ContentPhase(session: session, progress: progress)
        let (allBlobs, allLabels, early) = (blobs, labels, earlyUploads)
        let content = UnpackPhase.ContentTask {
            let (stored, present) = try await contentPhase.store(allBlobs, labels: allLabels, earlyUploads: early)
            return (stored, present, MonotonicClock.seconds(since: start))
        }
        let unpack = UnpackPhase(
            session: session, snapshotter: options.snapshotter, unpacker: options.unpacker, progress: progress)
        var imported: [ImportedImage] = []
        let date = UTCTime.format(UTCTime.now(), "%Y-%m-%d")
        do {
            for (image, target) in zip(verified.images, targets) {
                let (unpacked, reused) = try await unpack.unpack(image, blobs: blobs, content: content)
                imported.append(
                    ImportedImage(
                        names: ImageRecords.names(for: image, target: target.digest, digestNames: options.digestNames, date: date),
                        target: target, platform: image.platform, layersUnpacked: unpacked, layersReused: reused))
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
        return ImportSummary(images: imported, blobsStored: stored, blobsPresent: present, phases: phases)
    }

    /// Every blob of an OCI layout (`blobs/sha256/<hex>`, all stored as `ctr import` does) and
    /// docker save's configs and layer files, with their spooled copies.
    private func archiveBlobs() -> [Digest: ContentPhase.Blob] {
        var blobs: [Digest: ContentPhase.Blob] = [:]
        for (path, file) in verified.contents.files {
            if let digest = ArchiveContents.blobDigest(atPath: path), let spooled = spool.file(for: path) {
                blobs[digest] = ContentPhase.Blob(size: file.size, spooled: spooled)
            }
        }
        for image in verified.images where image.target == nil {
            if let config = image.config, let path = image.configPath, let spooled = spool.file(for: path) {
                blobs[config.digest] = ContentPhase.Blob(size: config.size, spooled: spooled)
            }
            for layer in image.layers {
                if let spooled = spool.file(for: layer.path) {
                    blobs[layer.digest] = ContentPhase.Blob(size: layer.descriptor.size, spooled: spooled)
                }
            }
        }
        return blobs
    }
}
