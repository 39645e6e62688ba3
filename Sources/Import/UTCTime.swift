#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// UTC timestamps as containerd's labels and ctr's names write them.
enum UTCTime {
    static func now() -> time_t { time(nil) }

    /// strftime in UTC, e.g. "%Y-%m-%dT%H:%M:%SZ" (RFC 3339).
    static func format(_ moment: time_t, _ pattern: String) -> String {
        var seconds = moment
        var parts = tm()
        gmtime_r(&seconds, &parts)
        var buffer = [CChar](repeating: 0, count: 64)
        let count = strftime(&buffer, buffer.count, pattern, &parts)
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
