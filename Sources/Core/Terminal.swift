import POSIX

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

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
public final class ProgressLine: @unchecked Sendable {
    private let enabled: Bool
    private var lastDraw: UInt64 = 0
    private var drawn = false
    private var lock = pthread_mutex_t()

    public init(enabled: Bool = isatty(2) == 1) {
        self.enabled = enabled
        pthread_mutex_init(&lock, nil)
    }

    deinit { pthread_mutex_destroy(&lock) }

    /// Redraws the line with `text` if enough time has passed.
    public func update(_ text: @autoclosure () -> String) {
        guard enabled else { return }
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        let now = MonotonicClock.nanoseconds()
        guard now - lastDraw >= 200_000_000 else { return }
        lastDraw = now
        drawn = true
        writeStandardError("\r\u{1b}[K" + text())
    }

    /// Removes the line.
    public func clear() {
        guard enabled else { return }
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        guard drawn else { return }
        drawn = false
        writeStandardError("\r\u{1b}[K")
    }
}
