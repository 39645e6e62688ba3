import ContainerdAPI
import Core
import GRPCCore
import Verification

/// Stores blobs in containerd while the rest of the archive is still being read and verified:
/// those of an OCI layout (`blobs/sha256/<hex>`) and docker-save's layer tars and `<hex>.json`
/// configs, so containerd's hashing and writing overlaps our
/// reading. Everything goes in under the import's lease and without labels; nothing points at
/// it yet. If the archive then proves inconsistent, deleting the lease lets GC remove it; if
/// containerd refuses a blob (its digest differs from its name), the verifier reports the same
/// problem and the import is refused anyway. The import's content phase only labels what was
/// stored here and stores anything that did not make it.
@available(macOS 15.0, *)
final class EarlyUploader: @unchecked Sendable {
    private typealias Item = (digest: Digest, file: String, size: Int64)
    private let queue: AsyncStream<Item>
    private let sender: AsyncStream<Item>.Continuation
    private var task: Task<Set<Digest>, Never>?

    init(session: ImportSession) {
        (queue, sender) = AsyncStream.makeStream(of: Item.self)
        let queue = self.queue
        let writer = session.writer
        let containerd = session.containerd
        let metadata = session.leased
        task = Task {
            // `ContentWriter.streams` at a time.
            await withTaskGroup(of: Digest?.self) { group in
                var stored: Set<Digest> = []
                var running = 0
                for await item in queue {
                    if Task.isCancelled { break }
                    if running == ContentWriter.streams, let done = await group.next() {
                        running -= 1
                        if let done { stored.insert(done) }
                    }
                    running += 1
                    group.addTask {
                        // Present already: the content phase adopts it under the lease and labels it.
                        if (try? await containerd.content.info(.with { $0.digest = item.digest.description }, metadata: metadata))
                            != nil
                        {
                            return nil
                        }
                        do {
                            try await writer.write(file: item.file, size: item.size, digest: item.digest, labels: [:])
                            return item.digest
                        } catch {
                            // Left to the content phase (or to the verifier's report, when the blob is bad).
                            return nil
                        }
                    }
                }
                for await done in group {
                    if let done { stored.insert(done) }
                }
                return stored
            }
        }
    }

    /// Called by the spool when a file is complete: files that can be blobs are queued.
    func offer(_ record: BlobRecord, spooled: String) {
        if let named = ArchiveContents.blobDigest(atPath: record.path) {
            // A blob whose bytes differ from its name is the verifier's to report; not stored.
            if named == record.digest { sender.yield((named, spooled, record.size)) }
            return
        }
        let name = record.path.split(separator: "/").last.map(String.init) ?? record.path
        let dockerSaveLayer = name.hasSuffix(".tar")
        let dockerSaveConfig = name.hasSuffix(".json") && name.count == 64 + 5 && name.dropLast(5).allSatisfy(\.isHexDigit)
        if dockerSaveLayer || dockerSaveConfig { sender.yield((record.digest, spooled, record.size)) }
    }

    /// Waits for the queued blobs; returns the digests this uploader stored.
    func finish() async -> Set<Digest> {
        sender.finish()
        return await task?.value ?? []
    }

    /// Stops after the blob being written.
    func cancel() async {
        sender.finish()
        task?.cancel()
        _ = await task?.value
    }
}
