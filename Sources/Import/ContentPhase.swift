import ContainerdAPI
import Core
import GRPCCore
import Verification

/// Every blob into containerd's content store, with its GC labels: stored (two Write streams
/// at a time: containerd hashes each on one goroutine), or, when already there, held by the
/// import's lease and labelled.
@available(macOS 15.0, *)
struct ContentPhase: Sendable {
    /// A blob to store: its size and spooled copy.
    struct Blob: Sendable {
        var size: Int64
        var spooled: String
    }

    let session: ImportSession
    var progress: (@Sendable (ImportProgress) -> Void)?

    /// Stores `blobs` with `labels`; those `earlyUploads` stored while the archive was read only
    /// get their labels. Returns how many were stored and how many were there already.
    func store(_ blobs: [Digest: Blob], labels: [Digest: [String: String]], earlyUploads: EarlyUploader?)
        async throws -> (stored: Int, present: Int)
    {
        await Failpoint.content.reached()
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
        let writer = session.writer
        try await withThrowingTaskGroup(of: Bool.self) { group in
            var next = missing.makeIterator()
            func start(_ digest: Digest, _ blob: Blob) {
                let wanted = labels[digest] ?? [:]
                group.addTask {
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

    /// A blob that was already there: held by the lease until the records exist and given the
    /// labels this image needs.
    private func adopt(_ digest: Digest, info: Containerd_Services_Content_V1_Info, labels: [String: String])
        async throws
    {
        try await session.hold(digest.description, type: "content")
        try await label(digest, missing: labels.filter { info.labels[$0.key] != $0.value })
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
