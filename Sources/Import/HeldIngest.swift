import ContainerdAPI
import Core
import GRPCCore
import Synchronization

/// The two signals between a blob's Write stream and the import: the stream says when
/// containerd has acknowledged every byte (`sent`), the import says how the stream ends
/// (`decide`). The first decision stands.
@available(macOS 15.0, *)
final class IngestEnding: Sendable {
    enum Decision: Sendable {
        /// COMMIT, with these labels.
        case commit([String: String])
        /// End the stream without committing; the ingest is aborted after.
        case abort
    }

    private struct State {
        var decision: Decision?
        var decisionWaiters: [CheckedContinuation<Decision, Never>] = []
        var sent: Result<Void, any Error>?
        var sentWaiters: [CheckedContinuation<Result<Void, any Error>, Never>] = []
    }

    private let state: Mutex<State>

    /// - Parameter decision: given now for a stream that commits as soon as its bytes are in.
    init(_ decision: Decision? = nil) { state = Mutex(State(decision: decision)) }

    /// The decision, if it is made.
    var decision: Decision? { state.withLock { $0.decision } }

    func decide(_ decision: Decision) {
        let waiters = state.withLock { state -> [CheckedContinuation<Decision, Never>] in
            guard state.decision == nil else { return [] }
            state.decision = decision
            defer { state.decisionWaiters = [] }
            return state.decisionWaiters
        }
        for waiter in waiters { waiter.resume(returning: decision) }
    }

    /// Waits for the decision.
    func decided() async -> Decision {
        await withCheckedContinuation { continuation in
            let made = state.withLock { state -> Decision? in
                if let decision = state.decision { return decision }
                state.decisionWaiters.append(continuation)
                return nil
            }
            if let made { continuation.resume(returning: made) }
        }
    }

    /// Every byte is acknowledged (success), or the stream failed before (the error).
    func markSent(_ result: Result<Void, any Error>) {
        let waiters = state.withLock { state -> [CheckedContinuation<Result<Void, any Error>, Never>] in
            guard state.sent == nil else { return [] }
            state.sent = result
            defer { state.sentWaiters = [] }
            return state.sentWaiters
        }
        for waiter in waiters { waiter.resume(returning: result) }
    }

    /// Waits until every byte is acknowledged; throws what stopped the stream before.
    func sent() async throws {
        let result = await withCheckedContinuation { continuation in
            let known = state.withLock { state -> Result<Void, any Error>? in
                if let sent = state.sent { return sent }
                state.sentWaiters.append(continuation)
                return nil
            }
            if let known { continuation.resume(returning: known) }
        }
        try result.get()
    }
}

/// A blob whose bytes containerd holds, not committed: an ingest (`ctr content active`) under
/// the import's lease, its Write stream open until the verdict says `commit` or `abort`. Nothing
/// can point at an ingest, so a refused archive leaves no blob behind, and the commit costs one
/// message: containerd does not read the bytes again (a resumed ingest it would hash again).
@available(macOS 15.0, *)
final class HeldIngest: Sendable {
    let digest: Digest
    private let ref: String
    private let ending: IngestEnding
    private let stream: Task<Void, any Error>

    fileprivate init(writer: ContentWriter, file: String, size: Int64, digest: Digest) {
        let ref = ContentWriter.ref(for: digest)
        let ending = IngestEnding()
        self.digest = digest
        self.ref = ref
        self.ending = ending
        stream = Task {
            do {
                try await writer.write(file: file, size: size, digest: digest, ref: ref, ending: ending)
                ending.markSent(.success(()))
            } catch {
                ending.markSent(.failure(error))
                throw error
            }
        }
    }

    /// Waits until containerd acknowledged every byte; throws what stopped the stream first
    /// (`alreadyExists`: the blob is committed already, by someone else).
    func sent() async throws { try await ending.sent() }

    /// Commits the blob with `labels`; throws containerd's answer (`alreadyExists` when another
    /// import committed the same blob meanwhile).
    func commit(labels: [String: String]) async throws {
        ending.decide(.commit(labels))
        try await stream.value
    }

    /// Ends the stream without a commit and removes the ingest.
    func abort(_ session: ImportSession) async {
        ending.decide(.abort)
        _ = try? await stream.value
        _ = try? await session.containerd.content.abort(.with { $0.ref = ref }, metadata: session.leased)
    }
}

/// Every blob an import holds uncommitted, so the verdict commits them all and a refusal or a
/// failure aborts them all. Closed by `abortAll`: nothing is started after.
@available(macOS 15.0, *)
final class IngestBook: Sendable {
    private let state = Mutex<(held: [Digest: HeldIngest], closed: Bool)>(([:], false))

    /// Starts writing a blob (or returns the ingest this import already holds for that digest).
    /// - Throws: `CancellationError` once the book is closed.
    func start(_ writer: ContentWriter, file: String, size: Int64, digest: Digest) throws -> HeldIngest {
        try state.withLock { state in
            guard !state.closed else { throw CancellationError() }
            if let held = state.held[digest] { return held }
            let held = HeldIngest(writer: writer, file: file, size: size, digest: digest)
            state.held[digest] = held
            return held
        }
    }

    /// Forgets an ingest whose stream failed (after aborting whatever it left).
    func drop(_ held: HeldIngest, _ session: ImportSession) async {
        state.withLock { state in
            if state.held[held.digest] === held { state.held[held.digest] = nil }
        }
        await held.abort(session)
    }

    /// Aborts every ingest held, at once, and closes the book.
    func abortAll(_ session: ImportSession) async {
        let held = state.withLock { state in
            state.closed = true
            defer { state.held = [:] }
            return Array(state.held.values)
        }
        await withTaskGroup(of: Void.self) { group in
            for ingest in held { group.addTask { await ingest.abort(session) } }
        }
    }
}
