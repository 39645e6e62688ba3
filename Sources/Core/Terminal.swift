import POSIX

import Synchronization

/// Writes text to standard error, unbuffered.
public func writeStandardError(_ text: String) {
    writeAll(.standardError, text)
}

/// Writes text to standard output, unbuffered, so it interleaves with standard error in order.
public func writeStandardOutput(_ text: String) {
    writeAll(.standardOutput, text)
}

/// Nothing to do when the stream is gone (a closed pipe, a full disk): the text is lost.
private func writeAll(_ stream: FileDescriptor, _ text: String) {
    var text = text
    text.withUTF8 { bytes in try? stream.writeAll(UnsafeRawBufferPointer(bytes)) }
}

/// A one-line progress indicator on standard error, drawn only when it is a terminal and
/// redrawn at most five times a second. Safe to update from several threads.
public final class ProgressLine: Sendable {
    private struct State {
        var lastDraw: UInt64 = 0
        var drawn = false
    }

    private let enabled: Bool
    private let state = Mutex(State())

    public init(enabled: Bool = FileDescriptor.standardError.isTerminal) {
        self.enabled = enabled
    }

    /// Redraws the line with `text` if enough time has passed.
    public func update(_ text: @autoclosure () -> String) {
        guard enabled else { return }
        state.withLock { state in
            let now = MonotonicClock.nanoseconds()
            guard now - state.lastDraw >= 200_000_000 else { return }
            state.lastDraw = now
            state.drawn = true
            writeStandardError("\r\u{1b}[K" + text())
        }
    }

    /// Removes the line.
    public func clear() {
        guard enabled else { return }
        state.withLock { state in
            guard state.drawn else { return }
            state.drawn = false
            writeStandardError("\r\u{1b}[K")
        }
    }
}
