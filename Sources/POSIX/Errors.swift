#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// An errno value: its number, its symbolic name and strerror's words.
public struct Errno: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: Int32

    public init(rawValue: Int32) { self.rawValue = rawValue }
    public init(_ rawValue: Int32) { self.rawValue = rawValue }

    /// The calling thread's errno now.
    static var current: Errno { Errno(errno) }

    /// strerror's text: "No space left on device".
    public var words: String {
        guard let text = strerror(rawValue) else { return "errno \(rawValue)" }
        return String(cString: text)
    }

    /// The symbolic name, "ENOSPC" (or "errno N" for one this table does not know).
    public var name: String {
        Self.names.first { $0.code == rawValue }?.name ?? "errno \(rawValue)"
    }

    /// Whether the machine could not do what was asked (no space or quota left, a device or
    /// filesystem error, a read-only filesystem, no memory or descriptors, no permission), as
    /// opposed to a request that conflicts with what is there (EEXIST, ENOTDIR, ELOOP, …).
    public var isMachineFailure: Bool {
        [ENOSPC, EDQUOT, EIO, EROFS, EFBIG, ENOMEM, EMFILE, ENFILE, EUCLEAN, ESTALE, ENXIO, ENODEV, EACCES, EPERM]
            .contains(rawValue)
    }

    /// "No space left on device (ENOSPC)".
    public var description: String { "\(words) (\(name))" }

    public static let notPermitted = Errno(EPERM)
    public static let noSuchFileOrDirectory = Errno(ENOENT)
    public static let noSuchProcess = Errno(ESRCH)
    public static let interrupted = Errno(EINTR)
    public static let badFileDescriptor = Errno(EBADF)
    public static let permissionDenied = Errno(EACCES)
    public static let badAddress = Errno(EFAULT)
    public static let fileExists = Errno(EEXIST)
    public static let notDirectory = Errno(ENOTDIR)
    public static let isDirectory = Errno(EISDIR)
    public static let invalidArgument = Errno(EINVAL)
    public static let fileTooLarge = Errno(EFBIG)
    public static let noSpace = Errno(ENOSPC)
    public static let tooManySymbolicLinkLevels = Errno(ELOOP)
    public static let fileNameTooLong = Errno(ENAMETOOLONG)
    public static let noFunction = Errno(ENOSYS)
    public static let notSupported = Errno(ENOTSUP)
    public static let directoryNotEmpty = Errno(ENOTEMPTY)

    /// Linux's errno names (aliases such as EWOULDBLOCK and EOPNOTSUPP give way to the first).
    private static let names: [(code: Int32, name: String)] = [
        (EPERM, "EPERM"), (ENOENT, "ENOENT"), (ESRCH, "ESRCH"), (EINTR, "EINTR"), (EIO, "EIO"),
        (ENXIO, "ENXIO"), (E2BIG, "E2BIG"), (ENOEXEC, "ENOEXEC"), (EBADF, "EBADF"), (ECHILD, "ECHILD"),
        (EAGAIN, "EAGAIN"), (ENOMEM, "ENOMEM"), (EACCES, "EACCES"), (EFAULT, "EFAULT"), (EBUSY, "EBUSY"),
        (EEXIST, "EEXIST"), (EXDEV, "EXDEV"), (ENODEV, "ENODEV"), (ENOTDIR, "ENOTDIR"), (EISDIR, "EISDIR"),
        (EINVAL, "EINVAL"), (ENFILE, "ENFILE"), (EMFILE, "EMFILE"), (ENOTTY, "ENOTTY"), (ETXTBSY, "ETXTBSY"),
        (EFBIG, "EFBIG"), (ENOSPC, "ENOSPC"), (ESPIPE, "ESPIPE"), (EROFS, "EROFS"), (EMLINK, "EMLINK"),
        (EPIPE, "EPIPE"), (ERANGE, "ERANGE"), (ENAMETOOLONG, "ENAMETOOLONG"), (ENOSYS, "ENOSYS"),
        (ENOTEMPTY, "ENOTEMPTY"), (ELOOP, "ELOOP"), (ENODATA, "ENODATA"), (EOVERFLOW, "EOVERFLOW"),
        (ENOTSUP, "ENOTSUP"), (EDQUOT, "EDQUOT"), (ESTALE, "ESTALE"), (ECONNREFUSED, "ECONNREFUSED"),
        (ETIMEDOUT, "ETIMEDOUT"), (EUCLEAN, "EUCLEAN"),
    ]
}

/// A system call that failed: the operation, the path it was about and errno.
/// `write /var/lib/containerd/kni-spool-1-x/3: No space left on device (ENOSPC)`.
public struct SystemCallError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What was done: "open", "write", "mkdir", "setxattr user.x", ...
    public var operation: String
    /// The path it was done to (for a descriptor, the path it was opened by).
    public var path: String
    public var errno: Errno

    public init(operation: String, path: String, errno: Errno) {
        self.operation = operation
        self.path = path
        self.errno = errno
    }

    public var description: String { "\(operation) \(path): \(errno)" }
}

/// Runs `body` (a system call that returns -1 and sets errno on failure) until it does not fail
/// with EINTR. EFAULT, and EBADF on a descriptor this process owns, are programmer errors and
/// stop the process; every other errno is thrown with the operation and path.
@discardableResult
func retryingInterrupts<Result: FixedWidthInteger>(
    _ operation: String, _ path: @autoclosure () -> String, ownsDescriptor: Bool = true, _ body: () -> Result
) throws(SystemCallError) -> Result {
    while true {
        let result = body()
        if result >= 0 { return result }
        let code = Errno.current
        if code == .interrupted { continue }
        throw failure(operation, path(), code, ownsDescriptor: ownsDescriptor)
    }
}

/// The error for a failed call, after checking it is not a programmer error.
func failure(_ operation: String, _ path: String, _ code: Errno, ownsDescriptor: Bool = true) -> SystemCallError {
    precondition(
        code != .badAddress && (code != .badFileDescriptor || !ownsDescriptor),
        "\(operation) \(path): \(code): a programmer error")
    return SystemCallError(operation: operation, path: path, errno: code)
}
