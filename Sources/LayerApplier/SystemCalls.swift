import CLinuxShims

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A failed system call: which one, on what, and errno.
public struct SystemCallError: Error, CustomStringConvertible, Sendable, Equatable {
    public var call: String
    public var path: String
    public var errno: Int32

    public var description: String { "\(call) \"\(path)\": \(String(cString: strerror(errno)))" }
}

/// Runs a system call until it does not fail with EINTR; throws its errno otherwise.
@discardableResult
func retrying(_ call: String, _ path: @autoclosure () -> String, _ body: () -> Int32) throws(SystemCallError) -> Int32 {
    while true {
        let result = body()
        if result >= 0 { return result }
        if errno == EINTR { continue }
        throw SystemCallError(call: call, path: path(), errno: errno)
    }
}

/// An open directory (or O_PATH) descriptor, closed when the last reference goes.
final class Descriptor {
    let fd: Int32

    init(_ fd: Int32) { self.fd = fd }

    deinit { close(fd) }

    /// Opens `name` (one component, or a path resolved by the kernel) relative to this directory.
    func open(_ name: String, _ flags: Int32, mode: mode_t = 0) throws(SystemCallError) -> Descriptor {
        Descriptor(try retrying("open", name) { openat(fd, name, flags | O_CLOEXEC, mode) })
    }

    /// openat2 with RESOLVE_IN_ROOT: `path` is resolved as if this directory were `/`.
    func openInRoot(_ path: String, _ flags: Int32) throws(SystemCallError) -> Descriptor {
        Descriptor(
            try retrying("openat2", path) {
                kni_openat2(fd, path, flags | O_CLOEXEC, 0, kni_resolve_in_root())
            })
    }

    /// lstat of one entry of this directory; nil when it does not exist.
    func status(_ name: String) throws(SystemCallError) -> stat? {
        var info = stat()
        let result = fstatat(fd, name, &info, AT_SYMLINK_NOFOLLOW)
        if result == 0 { return info }
        if errno == ENOENT { return nil }
        throw SystemCallError(call: "lstat", path: name, errno: errno)
    }

    func status() throws(SystemCallError) -> stat {
        var info = stat()
        try retrying("fstat", ".") { fstat(fd, &info) }
        return info
    }

    func readLink(_ name: String) throws(SystemCallError) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = try retrying("readlink", name) {
            Int32(buffer.withUnsafeMutableBytes { raw in
                raw.baseAddress.map { readlinkat(fd, name, $0, raw.count) } ?? -1
            })
        }
        return Array(buffer[0..<Int(count)])
    }

    /// Removes `name` and, when it is a directory, everything below it. Never follows symlinks.
    func removeAll(_ name: String) throws(SystemCallError) {
        if unlinkat(fd, name, 0) == 0 || errno == ENOENT { return }
        guard errno == EISDIR || errno == EPERM else {
            throw SystemCallError(call: "unlink", path: name, errno: errno)
        }
        let child = try open(name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
        for entry in try child.entries() { try child.removeAll(entry) }
        try retrying("rmdir", name) { unlinkat(fd, name, AT_REMOVEDIR) }
    }

    /// The names in this directory, without `.` and `..`.
    func entries() throws(SystemCallError) -> [String] {
        let copy = try open(".", O_RDONLY | O_DIRECTORY)
        guard let stream = fdopendir(dup(copy.fd)) else {
            throw SystemCallError(call: "opendir", path: ".", errno: errno)
        }
        defer { closedir(stream) }
        var names: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// A path that reaches entry `name` of this directory through /proc without resolving
    /// anything but our own descriptor (for the l*xattr calls, which have no *at form).
    func procPath(_ name: String) -> String { "/proc/self/fd/\(fd)/\(name)" }
}

/// True when this process runs in a user namespace that does not map the whole id range,
/// the test containerd uses (`pkg/userns`) to skip device nodes.
func runningInUserNamespace() -> Bool {
    guard let file = fopen("/proc/self/uid_map", "r") else { return false }
    defer { fclose(file) }
    var buffer = [CChar](repeating: 0, count: 256)
    guard fgets(&buffer, Int32(buffer.count), file) != nil else { return false }
    let line = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" })
    return fields != ["0", "0", "4294967295"]
}
