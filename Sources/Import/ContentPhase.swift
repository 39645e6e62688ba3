import ContainerdAPI
import Core
import GRPCCore
import Verification

/// Every blob into containerd's content store: stored while the layers are unpacked (two Write
/// streams at a time: containerd hashes each on one goroutine), or, when already there, held
/// by the import's lease. Nothing points at them until the verdict: only then do they get
/// their GC labels (`label`), and only then are the records written.
@available(macOS 15.0, *)
struct ContentPhase: Sendable {
    /// A blob to store: its size and spooled copy.
    struct Blob: Sendable {
        var size: Int64
        var spooled: String
    }

    /// What `store` did: how many blobs it stored, and the labels of those that were there.
    struct Stored: Sendable {
        var stored: Set<Digest> = []
        var present: [Digest: [String: String]] = [:]
        var seconds = 0.0
    }

    let session: ImportSession
    var progress: (@Sendable (ImportProgress) -> Void)?

    /// Stores `blobs` without labels under the import's lease; those `earlyUploads` stored while
    /// the archive was read are not written again, and those already there are held.
    func store(_ blobs: [Digest: Blob], earlyUploads: EarlyUploader?) async throws -> Stored {
        await Failpoint.content.reached()
        var result = Stored()
        let storedEarly = await earlyUploads?.finish() ?? []
        var missing: [(Digest, Blob)] = []
        func report() { progress?(.stored(result.stored.count + result.present.count, of: blobs.count)) }
        for (digest, blob) in blobs.sorted(by: { $0.key < $1.key }) {
            if storedEarly.contains(digest) {
                result.stored.insert(digest)
            } else if let info = try await existingInfo(digest) {
                try await session.hold(digest.description, type: "content")
                result.present[digest] = info.labels
            } else {
                missing.append((digest, blob))
            }
            report()
        }
        let writer = session.writer
        try await withThrowingTaskGroup(of: (Digest, [String: String]?).self) { group in
            var next = missing.makeIterator()
            func start(_ digest: Digest, _ blob: Blob) {
                group.addTask {
                    do {
                        try await writer.write(file: blob.spooled, size: blob.size, digest: digest, labels: [:])
                        return (digest, nil)
                    } catch let error as RPCError where error.code == .alreadyExists {
                        // Another import stored it meanwhile: hold theirs.
                        guard let info = try await existingInfo(digest) else { throw error }
                        try await session.hold(digest.description, type: "content")
                        return (digest, info.labels)
                    }
                }
            }
            for _ in 0..<ContentWriter.streams {
                if let (digest, blob) = next.next() { start(digest, blob) }
            }
            while let (digest, labels) = try await group.next() {
                if let labels { result.present[digest] = labels } else { result.stored.insert(digest) }
                report()
                if let (digest, blob) = next.next() { start(digest, blob) }
            }
        }
        return result
    }

    /// Gives the stored blobs the GC labels the verdict's images need (`Content.Update` of just
    /// the labels each one lacks).
    func label(_ stored: Stored, with labels: [Digest: [String: String]]) async throws {
        for (digest, wanted) in labels.sorted(by: { $0.key < $1.key }) {
            if stored.stored.contains(digest) {
                try await label(digest, missing: wanted)
            } else if let existing = stored.present[digest] {
                try await label(digest, missing: wanted.filter { existing[$0.key] != $0.value })
            }
        }
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
