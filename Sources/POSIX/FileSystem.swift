#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Calls on paths (relative ones to the working directory). Where a path is resolved inside
/// untrusted content, use a directory's `FileDescriptor` instead.
public enum FileSystem {
    /// mkdir(2).
    public static func makeDirectory(_ path: String, permissions: UInt32 = 0o755) throws(SystemCallError) {
        try retryingInterrupts("mkdir", path) { mkdir(path, mode_t(permissions)) }
    }

    /// mkdtemp(3): creates the directory `prefix` + six random characters, mode 0700; returns its path.
    public static func makeTemporaryDirectory(prefix: String) throws(SystemCallError) -> String {
        var template = Array((prefix + "XXXXXX").utf8CString)
        let made = template.withUnsafeMutableBufferPointer { buffer in
            buffer.baseAddress.flatMap { mkdtemp($0) }.map { String(cString: $0) }
        }
        guard let made else { throw failure("mkdtemp", prefix + "XXXXXX", .current) }
        return made
    }

    /// stat(2) (lstat(2) when `followingSymlinks` is false); nil when there is nothing at `path`.
    public static func status(_ path: String, followingSymlinks: Bool = true) throws(SystemCallError) -> FileStatus? {
        var info = stat()
        do {
            try retryingInterrupts("stat", path) {
                fstatat(AT_FDCWD, path, &info, followingSymlinks ? 0 : AT_SYMLINK_NOFOLLOW)
            }
        } catch where error.errno == .noSuchFileOrDirectory {
            return nil
        }
        return FileStatus(info)
    }

    /// The whole file at `path`; one larger than `limit` bytes is EFBIG.
    public static func readFile(_ path: String, limit: Int) throws(SystemCallError) -> [UInt8] {
        try FileDescriptor.open(path).readToEnd(limit: limit)
    }

    /// unlink(2) of a non-directory.
    public static func remove(_ path: String) throws(SystemCallError) {
        try retryingInterrupts("unlink", path) { unlink(path) }
    }

    /// rename(2).
    public static func rename(_ path: String, to newPath: String) throws(SystemCallError) {
        try retryingInterrupts("rename", path) { renameat(AT_FDCWD, path, AT_FDCWD, newPath) }
    }

    /// Removes `path` and, when it is a directory, everything below it (symlinks are removed,
    /// never followed); nothing when it is missing.
    public static func removeTree(_ path: String) throws(SystemCallError) {
        var trimmed = Substring(path)
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        let parent: String
        let name: String
        if let slash = trimmed.lastIndex(of: "/") {
            parent = slash == trimmed.startIndex ? "/" : String(trimmed[..<slash])
            name = String(trimmed[trimmed.index(after: slash)...])
        } else {
            (parent, name) = (".", String(trimmed))
        }
        try FileDescriptor.open(parent, options: .directory).removeTree(name)
    }
}

/// This process and others.
public enum Processes {
    /// getpid(2).
    public static var currentID: Int32 { getpid() }

    /// True when no process `id` exists (kill(id, 0) fails with ESRCH).
    public static func isGone(_ id: Int32) -> Bool {
        kill(id, 0) != 0 && errno == ESRCH
    }
}
