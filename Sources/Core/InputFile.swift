import POSIX

/// Why an input could not be read. Carries the raw errno.
public enum InputError: Error, CustomStringConvertible, Sendable {
    case open(path: String, errno: Int32)
    case read(path: String, errno: Int32)

    public var description: String {
        switch self {
        case .open(let path, let code): return "cannot open \(path): \(Errno(code).words)"
        case .read(let path, let code): return "cannot read \(path): \(Errno(code).words)"
        }
    }
}


/// A file or standard input, read sequentially in large chunks. Owns its descriptor
/// (standard input is never closed).
public final class InputFile {
    /// The name used in messages: the path, or `-` for standard input.
    public let name: String
    private let descriptor: FileDescriptor

    /// Opens `path` for reading; `-` means standard input.
    public init(path: String) throws(InputError) {
        if path == "-" {
            name = "-"
            descriptor = .standardInput
            return
        }
        let opened: FileDescriptor
        do {
            opened = try FileDescriptor.open(path)
        } catch {
            throw .open(path: path, errno: error.errno.rawValue)
        }
        if (try? opened.status())?.kind == .directory {
            throw .open(path: path, errno: Errno.isDirectory.rawValue)
        }
        name = path
        descriptor = opened
    }

    /// Reads up to `buffer.count` bytes; 0 means end of input. Retries EINTR.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(InputError) -> Int {
        do {
            return try descriptor.read(into: buffer)
        } catch {
            throw .read(path: name, errno: error.errno.rawValue)
        }
    }

    /// Moves the read position to `offset` (regular files only).
    public func seek(to offset: Int64) throws(InputError) {
        do {
            try descriptor.seek(to: offset)
        } catch {
            throw .read(path: name, errno: error.errno.rawValue)
        }
    }

    /// Feeds the whole input to `sink` in chunks of `chunkSize` bytes. With `readAhead` > 0, a
    /// thread of its own reads up to that many chunks ahead (`ReadAhead`), so reading overlaps
    /// with the sink's work.
    public func forEachChunk(chunkSize: Int = 1 << 20, readAhead: Int = 0, _ sink: ByteSink) throws {
        if readAhead > 0 {
            return try ReadAhead(self, chunkSize: chunkSize, depth: readAhead).run(sink)
        }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let count = try read(into: buffer)
            if count == 0 { return }
            try sink(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
        }
    }
}
