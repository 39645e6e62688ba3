import ContainerdAPI
import Core
import GRPCCore
import Verification

/// Every blob into containerd's content store: sent while the layers are unpacked (two Write
/// streams at a time: containerd hashes each on one goroutine) and held there uncommitted
/// (`HeldIngest`), or, when already there, held by the import's lease. Only the verdict commits
/// them (`commit`), each with its GC labels; only then are the records written.
@available(macOS 15.0, *)
struct ContentPhase: Sendable {
    /// A blob to store: its size and spooled copy (nil: not spooled, as the node holds it).
    struct Blob: Sendable {
        var size: Int64
        var spooled: String?
    }

    /// What `store` did: the blobs it holds uncommitted, and the labels of those that were there.
    struct Stored: Sendable {
        var held: [Digest: HeldIngest] = [:]
        var present: [Digest: [String: String]] = [:]
        var seconds = 0.0
    }

    /// What `commit` did.
    struct Committed: Sendable {
        /// Blobs this import committed.
        var stored = 0
        /// Blobs that were there (or that another import committed first), labelled.
        var present = 0
        var seconds = 0.0
    }

    let session: ImportSession
    var progress: (@Sendable (ImportProgress) -> Void)?

    /// Sends `blobs` under the import's lease, uncommitted; those `earlyUploads` sent while the
    /// archive was read are not sent again, and those already there are held.
    func store(_ blobs: [Digest: Blob], earlyUploads: EarlyUploader?) async throws -> Stored {
        await Failpoint.content.reached()
        var result = Stored()
        result.held = await earlyUploads?.finish() ?? [:]
        var missing: [(Digest, Blob)] = []
        func report() { progress?(.stored(result.held.count + result.present.count, of: blobs.count)) }
        for (digest, blob) in blobs.sorted(by: { $0.key < $1.key }) where result.held[digest] == nil {
            if let info = try await existingInfo(digest) {
                try await session.hold(digest.description, type: "content")
                result.present[digest] = info.labels
            } else {
                missing.append((digest, blob))
            }
            report()
        }
        let session = session
        try await withThrowingTaskGroup(of: (Digest, HeldIngest?, [String: String]?).self) { group in
            var next = missing.makeIterator()
            func start(_ digest: Digest, _ blob: Blob) throws {
                try Task.checkCancellation()
                guard let spooled = blob.spooled else {
                    throw ImportError.containerd(
                        "the blob \(digest) was in the content store when the import began and is gone now (removed by GC or by hand): import again")
                }
                let ingest = try session.ingests.start(session.writer, file: spooled, size: blob.size, digest: digest)
                group.addTask {
                    do {
                        try await ingest.sent()
                        return (digest, ingest, nil)
                    } catch let error as RPCError where error.code == .alreadyExists {
                        // Another import stored it meanwhile: hold theirs.
                        await session.ingests.drop(ingest, session)
                        guard let info = try await existingInfo(digest) else { throw error }
                        try await session.hold(digest.description, type: "content")
                        return (digest, nil, info.labels)
                    }
                }
            }
            for _ in 0..<ContentWriter.streams {
                if let (digest, blob) = next.next() { try start(digest, blob) }
            }
            while let (digest, ingest, labels) = try await group.next() {
                if let ingest { result.held[digest] = ingest }
                if let labels { result.present[digest] = labels }
                report()
                if let (digest, blob) = next.next() { try start(digest, blob) }
            }
        }
        return result
    }

    /// After the verdict: commits every held blob with the GC labels the verdict's images need,
    /// and gives those that were there the labels they lack (`Content.Update` of just those).
    func commit(_ stored: Stored, labels: [Digest: [String: String]]) async throws -> Committed {
        let start = MonotonicClock.nanoseconds()
        var result = Committed()
        try await withThrowingTaskGroup(of: Bool.self) { group in
            for (digest, ingest) in stored.held {
                let wanted = labels[digest] ?? [:]
                group.addTask {
                    do {
                        try await ingest.commit(labels: wanted)
                        return true
                    } catch let error as RPCError where error.code == .alreadyExists {
                        // Another import committed it first: hold theirs and label it.
                        guard let info = try await existingInfo(digest) else { throw error }
                        try await session.hold(digest.description, type: "content")
                        try await label(digest, missing: wanted.filter { info.labels[$0.key] != $0.value })
                        return false
                    }
                }
            }
            for (digest, existing) in stored.present {
                let wanted = labels[digest] ?? [:]
                group.addTask {
                    try await label(digest, missing: wanted.filter { existing[$0.key] != $0.value })
                    return false
                }
            }
            for try await committed in group {
                if committed { result.stored += 1 } else { result.present += 1 }
            }
        }
        result.seconds = MonotonicClock.seconds(since: start)
        return result
    }

    /// Sets `missing` labels on a stored blob (`Content.Update` with a mask of just those keys).
    private func label(_ digest: Digest, missing: [String: String]) async throws {
        guard !missing.isEmpty else { return }
        _ = try await session.containerd.content.update(
            .with {
                $0.info = .with { info in
                    info.digest = digest.description
                    info.labels = missing
                }
                $0.updateMask = .with { $0.paths = missing.keys.map { "labels.\($0)" } }
            }, metadata: session.leased)
    }

    private func existingInfo(_ digest: Digest) async throws -> Containerd_Services_Content_V1_Info? {
        do {
            return try await session.containerd.content.info(.with { $0.digest = digest.description }, metadata: session.leased)
                .info
        } catch let error as RPCError where error.code == .notFound {
            return nil
        }
    }
}
