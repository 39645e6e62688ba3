import CLinuxShims

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// How a file is opened: for reading, writing or both.
public struct AccessMode: RawRepresentable, Sendable, Equatable {
    public var rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    public static let readOnly = AccessMode(rawValue: O_RDONLY)
    public static let writeOnly = AccessMode(rawValue: O_WRONLY)
    public static let readWrite = AccessMode(rawValue: O_RDWR)
}

/// open(2) flags other than the access mode (O_CLOEXEC is always added).
public struct OpenOptions: OptionSet, Sendable {
    public var rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    public static let create = OpenOptions(rawValue: O_CREAT)
    public static let exclusive = OpenOptions(rawValue: O_EXCL)
    public static let truncate = OpenOptions(rawValue: O_TRUNC)
    public static let directory = OpenOptions(rawValue: O_DIRECTORY)
    /// Fails with ELOOP when the last component is a symlink.
    public static let noFollow = OpenOptions(rawValue: O_NOFOLLOW)
}

/// An open file descriptor, owned: closed exactly once, when the last reference goes (the
/// standard streams are borrowed and never closed). Every call retries EINTR and throws a
/// `SystemCallError` naming the operation, the path and errno.
public final class FileDescriptor: Sendable {
    public let rawValue: Int32
    /// The path it was opened by (relative paths joined to their directory's), for messages.
    public let path: String
    private let owned: Bool

    private init(rawValue: Int32, path: String, owned: Bool) {
        self.rawValue = rawValue
        self.path = path
        self.owned = owned
    }

    deinit {
        // Never retried: Linux releases the descriptor even when close reports EINTR.
        if owned { _ = close(rawValue) }
    }

    public static let standardInput = FileDescriptor(rawValue: 0, path: "standard input", owned: false)
    public static let standardOutput = FileDescriptor(rawValue: 1, path: "standard output", owned: false)
    public static let standardError = FileDescriptor(rawValue: 2, path: "standard error", owned: false)

    /// Takes ownership of `rawValue` (from pipe(2), say): it is closed with this object.
    public static func adopting(_ rawValue: Int32, path: String) -> FileDescriptor {
        FileDescriptor(rawValue: rawValue, path: path, owned: true)
    }

    // MARK: Opening

    /// open(2) of `path`, relative to the working directory when it is not absolute.
    public static func open(
        _ path: String, _ access: AccessMode = .readOnly, options: OpenOptions = [], permissions: UInt32 = 0
    ) throws(SystemCallError) -> FileDescriptor {
        let flags = access.rawValue | options.rawValue | O_CLOEXEC
        let fd = try retryingInterrupts("open", path) { openat(AT_FDCWD, path, flags, mode_t(permissions)) }
        return FileDescriptor(rawValue: fd, path: path, owned: true)
    }

    /// openat(2) of `name` (one component, or a path the kernel resolves) in this directory.
    public func open(
        _ name: String, _ access: AccessMode = .readOnly, options: OpenOptions = [], permissions: UInt32 = 0
    ) throws(SystemCallError) -> FileDescriptor {
        let flags = access.rawValue | options.rawValue | O_CLOEXEC
        let fd = try retryingInterrupts("open", path(of: name)) { openat(rawValue, name, flags, mode_t(permissions)) }
        return FileDescriptor(rawValue: fd, path: path(of: name), owned: true)
    }

    /// openat2(2) with RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS: `relativePath` is resolved as if
    /// this directory were `/`, so no symlink leads out of it. ENOSYS (or EINVAL) where the
    /// kernel or the build's headers lack it.
    public func openInRoot(
        _ relativePath: String, _ access: AccessMode = .readOnly, options: OpenOptions = []
    ) throws(SystemCallError) -> FileDescriptor {
        let flags = access.rawValue | options.rawValue | O_CLOEXEC
        let fd = try retryingInterrupts("openat2", path(of: relativePath)) {
            kni_openat2(rawValue, relativePath, flags, 0, kni_resolve_in_root())
        }
        return FileDescriptor(rawValue: fd, path: path(of: relativePath), owned: true)
    }

    /// The path of entry `name` of this directory, for messages.
    public func path(of name: String) -> String {
        if name == "." { return path }
        return path.hasSuffix("/") ? path + name : path + "/" + name
    }

    // MARK: Reading and writing

    /// read(2): up to `buffer.count` bytes; 0 means the end.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(SystemCallError) -> Int {
        try retryingInterrupts("read", path, ownsDescriptor: owned) { systemRead(rawValue, buffer) }
    }

    /// pread(2): up to `buffer.count` bytes from `offset`; 0 means the end.
    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws(SystemCallError) -> Int {
        try retryingInterrupts("read", path, ownsDescriptor: owned) {
            pread(rawValue, buffer.baseAddress, buffer.count, off_t(offset))
        }
    }

    /// write(2) until every byte is written.
    public func writeAll(_ bytes: UnsafeRawBufferPointer) throws(SystemCallError) {
        var done = 0
        while done < bytes.count {
            done += try retryingInterrupts("write", path, ownsDescriptor: owned) {
                systemWrite(rawValue, UnsafeRawBufferPointer(rebasing: bytes[done...]))
            }
        }
    }

    /// pwrite(2) until every byte is written at `offset` and after.
    public func writeAll(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws(SystemCallError) {
        var done = 0
        while done < bytes.count {
            done += try retryingInterrupts("write", path, ownsDescriptor: owned) {
                pwrite(rawValue, bytes.baseAddress?.advanced(by: done), bytes.count - done, off_t(offset) + off_t(done))
            }
        }
    }

    /// Reads to the end; more than `limit` bytes is EFBIG.
    public func readToEnd(limit: Int) throws(SystemCallError) -> [UInt8] {
        var bytes: [UInt8] = []
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)
        defer { chunk.deallocate() }
        while true {
            let count = try read(into: chunk)
            if count == 0 { return bytes }
            guard bytes.count + count <= limit else { throw failure("read", path, .fileTooLarge) }
            bytes.append(contentsOf: chunk[0..<count])
        }
    }

    /// lseek(2) to `offset` from the start.
    public func seek(to offset: Int64) throws(SystemCallError) {
        try retryingInterrupts("seek", path, ownsDescriptor: owned) { lseek(rawValue, off_t(offset), SEEK_SET) }
    }

    /// ftruncate(2).
    public func truncate(to size: Int64) throws(SystemCallError) {
        try retryingInterrupts("truncate", path) { ftruncate(rawValue, off_t(size)) }
    }

    // MARK: Status

    /// isatty(3): whether this descriptor is a terminal.
    public var isTerminal: Bool { isatty(rawValue) == 1 }

    /// fstat(2).
    public func status() throws(SystemCallError) -> FileStatus {
        var info = stat()
        try retryingInterrupts("stat", path, ownsDescriptor: owned) { fstat(rawValue, &info) }
        return FileStatus(info)
    }

    /// fstatat(2) of entry `name`, not following a symlink there; nil when there is none.
    public func status(of name: String) throws(SystemCallError) -> FileStatus? {
        var info = stat()
        do {
            try retryingInterrupts("stat", path(of: name)) { fstatat(rawValue, name, &info, AT_SYMLINK_NOFOLLOW) }
        } catch where error.errno == .noSuchFileOrDirectory {
            return nil
        }
        return FileStatus(info)
    }
}

// Outside the type, whose own `read` and `write` would hide libc's.
private func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer) -> Int {
    read(fd, buffer.baseAddress, buffer.count)
}

private func systemWrite(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Int {
    write(fd, bytes.baseAddress, bytes.count)
}
