#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Why an input could not be read. Carries the raw errno.
public enum InputError: Error, CustomStringConvertible, Sendable {
    case open(path: String, errno: Int32)
    case read(path: String, errno: Int32)

    public var description: String {
        switch self {
        case .open(let path, let code): return "cannot open \(path): \(errnoDescription(code))"
        case .read(let path, let code): return "cannot read \(path): \(errnoDescription(code))"
        }
    }
}

public func errnoDescription(_ code: Int32) -> String {
    guard let text = strerror(code) else { return "errno \(code)" }
    return String(cString: text)
}

/// A file or standard input, read sequentially in large chunks. Owns its descriptor
/// (standard input is never closed).
public final class InputFile {
    /// The name used in messages: the path, or `-` for standard input.
    public let name: String
    private let fd: Int32
    private let owned: Bool

    /// Opens `path` for reading; `-` means standard input.
    public init(path: String) throws(InputError) {
        if path == "-" {
            name = "-"
            fd = 0
            owned = false
            return
        }
        let opened = path.withCString { open($0, O_RDONLY | O_CLOEXEC) }
        guard opened >= 0 else { throw .open(path: path, errno: errno) }
        var info = stat()
        if fstat(opened, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR {
            close(opened)
            throw .open(path: path, errno: EISDIR)
        }
        name = path
        fd = opened
        owned = true
    }

    deinit {
        if owned { close(fd) }
    }

    /// Reads up to `buffer.count` bytes; 0 means end of input. Retries EINTR.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(InputError) -> Int {
        while true {
            #if canImport(Glibc) || canImport(Musl)
            let count = Glibc.read(fd, buffer.baseAddress, buffer.count)
            #else
            let count = Darwin.read(fd, buffer.baseAddress, buffer.count)
            #endif
            if count >= 0 { return count }
            if errno == EINTR { continue }
            throw .read(path: name, errno: errno)
        }
    }

    /// Moves the read position to `offset` (regular files only).
    public func seek(to offset: Int64) throws(InputError) {
        guard lseek(fd, off_t(offset), SEEK_SET) >= 0 else { throw .read(path: name, errno: errno) }
    }

    /// Feeds the whole input to `sink` in chunks of `chunkSize` bytes.
    public func forEachChunk(chunkSize: Int = 1 << 20, _ sink: ByteSink) throws {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let count = try read(into: buffer)
            if count == 0 { return }
            try sink(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
        }
    }
}
