import Synchronization

/// Waits for `operation` at most `seconds`; returns false when it had not ended by then (it then
/// goes on alone, unstructured). For clean-up on a path that must end whatever a cancelled
/// call does: deleting the lease must not wait on an upload that never returns.
@available(macOS 15.0, *)
func finishes(within seconds: Double, _ operation: @escaping @Sendable () async -> Void) async -> Bool {
    await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
        let first = FirstAnswer(continuation)
        Task {
            await operation()
            first.answer(true)
        }
        Task {
            try? await Task.sleep(for: .seconds(seconds))
            first.answer(false)
        }
    }
}

/// Resumes a continuation with the first answer given; later ones are dropped.
@available(macOS 15.0, *)
private final class FirstAnswer: Sendable {
    private let continuation: Mutex<CheckedContinuation<Bool, Never>?>

    init(_ continuation: CheckedContinuation<Bool, Never>) { self.continuation = Mutex(continuation) }

    func answer(_ value: Bool) {
        continuation.withLock { pending in
            pending?.resume(returning: value)
            pending = nil
        }
    }
}
