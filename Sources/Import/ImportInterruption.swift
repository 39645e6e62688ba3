import ContainerdAPI
import Core
import POSIX
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// What a SIGTERM or SIGINT must undo at once: the import's lease (so containerd's GC removes
/// what it held now, not when it expires) and its spool. The records are the commit point: a
/// signal that arrives while they are written waits for them (they are all or none), and once
/// a signal arrived no commit begins.
@available(macOS 15.0, *)
public final class ImportInterruption: Sendable {
    /// What the interrupted import had reached.
    public struct State: Sendable {
        public var lease: String?
        public var spool: String?
        /// The records were written: the import is complete.
        public var committed = false
        fileprivate var committing = false
        fileprivate var interrupted = false
    }

    private let state = Mutex(State())

    public init() {}

    func leaseCreated(_ id: String) { state.withLock { $0.lease = id } }
    func spoolCreated(_ path: String) { state.withLock { $0.spool = path } }

    /// Whether the records may be written; false once a signal arrived.
    func beginCommit() -> Bool {
        state.withLock { state in
            guard !state.interrupted else { return false }
            state.committing = true
            return true
        }
    }

    func endCommit(committed: Bool) {
        state.withLock { state in
            state.committing = false
            state.committed = committed
        }
    }

    /// Stops any commit from beginning, waits (at most `commitWait` seconds) for one under way,
    /// and says what there is to undo.
    public func interrupt(commitWait: Double = 30) -> State {
        state.withLock { $0.interrupted = true }
        let deadline = MonotonicClock.nanoseconds() + UInt64(commitWait * 1e9)
        while state.withLock({ $0.committing }) && MonotonicClock.nanoseconds() < deadline {
            usleep(10_000)
        }
        return state.withLock { $0 }
    }

    /// Deletes `lease` on a connection of its own (the import's may be busy or broken),
    /// within `seconds`; true when containerd confirmed it.
    public static func deleteLease(_ lease: String, socket: String, namespace: String, within seconds: Double = 5) async
        -> Bool
    {
        let deleted = Mutex(false)
        _ = await finishes(within: seconds) {
            let confirmed =
                (try? await ContainerdConnection.withConnection(socket: socket, namespace: namespace) { containerd in
                    _ = try await containerd.leases.delete(.with { $0.id = lease }, metadata: containerd.metadata())
                }) != nil
            deleted.withLock { $0 = confirmed }
        }
        return deleted.withLock { $0 }
    }
}
