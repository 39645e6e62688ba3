import ContainerdAPI
import Core
import GRPCCore
import Verification

/// Sends blobs to containerd while the rest of the archive is still being read and verified:
/// those of an OCI layout (`blobs/sha256/<hex>`) and docker-save's layer tars and `<hex>.json`
/// configs, so containerd's hashing and writing overlaps our reading. Each stays an uncommitted
/// ingest under the import's lease (`HeldIngest`) until the verdict commits it; if containerd
/// refuses a blob (its digest differs from its name), the verifier reports the same problem and
/// the import is refused anyway. The content phase sends whatever did not make it here.
@available(macOS 15.0, *)
final class EarlyUploader: @unchecked Sendable {
    private typealias Item = (digest: Digest, file: String, size: Int64)
    private let queue: AsyncStream<Item>
    private let sender: AsyncStream<Item>.Continuation
    private var task: Task<[Digest: HeldIngest], Never>?

    init(session: ImportSession) {
        (queue, sender) = AsyncStream.makeStream(of: Item.self)
        let queue = self.queue
        let writer = session.writer
        let containerd = session.containerd
        let metadata = session.leased
        task = Task {
            // `ContentWriter.streams` sending at a time; a stream whose bytes are all in waits
            // for the verdict without holding a slot.
            await withTaskGroup(of: HeldIngest?.self) { group in
                var held: [Digest: HeldIngest] = [:]
                var running = 0
                for await item in queue {
                    if Task.isCancelled { break }
                    if running == ContentWriter.streams, let done = await group.next() {
                        running -= 1
                        if let done { held[done.digest] = done }
                    }
                    running += 1
                    group.addTask {
                        // Present already: the content phase adopts it under the lease and labels it.
                        if (try? await containerd.content.info(.with { $0.digest = item.digest.description }, metadata: metadata))
                            != nil
                        {
                            return nil
                        }
                        guard let ingest = try? session.ingests.start(writer, file: item.file, size: item.size, digest: item.digest)
                        else { return nil }
                        do {
                            try await ingest.sent()
                            return ingest
                        } catch {
                            // Left to the content phase (or to the verifier's report, when the blob is bad).
                            await session.ingests.drop(ingest, session)
                            return nil
                        }
                    }
                }
                for await done in group {
                    if let done { held[done.digest] = done }
                }
                return held
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

    /// Waits for the queued blobs; returns those this uploader holds, uncommitted.
    func finish() async -> [Digest: HeldIngest] {
        sender.finish()
        return await task?.value ?? [:]
    }

    /// Stops after the blob being sent (the import aborts what is held).
    func cancel() async {
        sender.finish()
        task?.cancel()
        _ = await task?.value
    }
}
