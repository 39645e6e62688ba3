import CLinuxShims

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The calls on the entries of a directory descriptor. None follows a symlink in `name`.
extension FileDescriptor {
    /// The names in this directory, without `.` and `..`.
    public func entries() throws(SystemCallError) -> [String] {
        // A descriptor of its own: readdir's position is the open file's, and closedir closes it.
        let copy = try retryingInterrupts("open", path) { openat(rawValue, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        guard let stream = fdopendir(copy) else {
            let code = Errno.current
            close(copy)
            throw failure("readdir", path, code)
        }
        defer { closedir(stream) }
        var names: [String] = []
        while true {
            errno = 0
            guard let entry = readdir(stream) else {
                if errno != 0 { throw failure("readdir", path, .current) }
                return names
            }
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
    }

    /// mkdirat(2).
    public func makeDirectory(_ name: String, permissions: UInt32) throws(SystemCallError) {
        try retryingInterrupts("mkdir", path(of: name)) { mkdirat(rawValue, name, mode_t(permissions)) }
    }

    /// symlinkat(2): entry `name` pointing at `target`.
    public func makeSymbolicLink(_ name: String, to target: String) throws(SystemCallError) {
        try retryingInterrupts("symlink", path(of: name)) { symlinkat(target, rawValue, name) }
    }

    /// linkat(2): entry `name` for the file `targetName` of `targetDirectory` (not followed).
    public func makeHardLink(_ name: String, to targetName: String, in targetDirectory: FileDescriptor)
        throws(SystemCallError)
    {
        try retryingInterrupts("link", path(of: name)) { linkat(targetDirectory.rawValue, targetName, rawValue, name, 0) }
    }

    /// mknodat(2) of a fifo or a device.
    public func makeNode(_ name: String, _ kind: FileKind, permissions: UInt32, major: UInt32 = 0, minor: UInt32 = 0)
        throws(SystemCallError)
    {
        let device = kni_makedev(major, minor)
        try retryingInterrupts("mknod", path(of: name)) {
            mknodat(rawValue, name, kind.modeBits | mode_t(permissions), device)
        }
    }

    /// readlinkat(2): a symlink's target, as bytes.
    public func readLink(_ name: String) throws(SystemCallError) -> [UInt8] {
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = try retryingInterrupts("readlink", path(of: name)) { readlinkat(rawValue, name, &buffer, buffer.count) }
        return buffer[0..<count].map { UInt8(bitPattern: $0) }
    }

    /// unlinkat(2) of a non-directory.
    public func remove(_ name: String) throws(SystemCallError) {
        try retryingInterrupts("unlink", path(of: name)) { unlinkat(rawValue, name, 0) }
    }

    /// unlinkat(2) of an empty directory.
    public func removeDirectory(_ name: String) throws(SystemCallError) {
        try retryingInterrupts("rmdir", path(of: name)) { unlinkat(rawValue, name, AT_REMOVEDIR) }
    }

    /// Removes `name` and, when it is a directory, everything below it; nothing when it is
    /// missing. Never follows a symlink.
    public func removeTree(_ name: String) throws(SystemCallError) {
        do {
            try remove(name)
            return
        } catch where error.errno == .noSuchFileOrDirectory {
            return
        } catch where error.errno == .isDirectory || error.errno == .notPermitted {
            // A directory (EISDIR on Linux, EPERM where POSIX allows it).
        }
        let directory = try open(name, options: [.directory, .noFollow])
        for entry in try directory.entries() { try directory.removeTree(entry) }
        try removeDirectory(name)
    }

    /// renameat(2): entry `name` becomes `newName` of `directory` (this one when nil).
    public func rename(_ name: String, to newName: String, in directory: FileDescriptor? = nil) throws(SystemCallError) {
        let target = directory ?? self
        try retryingInterrupts("rename", path(of: name)) { renameat(rawValue, name, target.rawValue, newName) }
    }
}

/// Owner, mode, times and extended attributes, of this file or of an entry of this directory
/// (never following a symlink there).
extension FileDescriptor {
    /// fchown(2).
    public func changeOwner(userID: UInt32, groupID: UInt32) throws(SystemCallError) {
        try retryingInterrupts("chown", path) { fchown(rawValue, uid_t(userID), gid_t(groupID)) }
    }

    /// fchownat(2) with AT_SYMLINK_NOFOLLOW: lchown.
    public func changeOwner(of name: String, userID: UInt32, groupID: UInt32) throws(SystemCallError) {
        try retryingInterrupts("chown", path(of: name)) {
            fchownat(rawValue, name, uid_t(userID), gid_t(groupID), AT_SYMLINK_NOFOLLOW)
        }
    }

    /// fchmod(2): `permissions` includes setuid, setgid and sticky; the umask does not apply.
    public func changeMode(_ permissions: UInt32) throws(SystemCallError) {
        try retryingInterrupts("chmod", path) { fchmod(rawValue, mode_t(permissions)) }
    }

    /// fchmodat(2) of entry `name` (Linux has no lchmod: `name` must not be a symlink).
    public func changeMode(of name: String, _ permissions: UInt32) throws(SystemCallError) {
        try retryingInterrupts("chmod", path(of: name)) { fchmodat(rawValue, name, mode_t(permissions), 0) }
    }

    /// futimens(2).
    public func setTimes(access: FileTime, modification: FileTime) throws(SystemCallError) {
        var times = [access.timespec, modification.timespec]
        try retryingInterrupts("utimens", path) { futimens(rawValue, &times) }
    }

    /// utimensat(2) with AT_SYMLINK_NOFOLLOW.
    public func setTimes(of name: String, access: FileTime, modification: FileTime) throws(SystemCallError) {
        var times = [access.timespec, modification.timespec]
        try retryingInterrupts("utimens", path(of: name)) { utimensat(rawValue, name, &times, AT_SYMLINK_NOFOLLOW) }
    }

    /// fsetxattr(2); `createOnly` fails with EEXIST when the attribute is there.
    public func setExtendedAttribute(_ attribute: String, _ value: [UInt8], createOnly: Bool = false)
        throws(SystemCallError)
    {
        let flags = createOnly ? Int32(XATTR_CREATE) : 0
        try retryingInterrupts("setxattr \(attribute)", path) {
            value.withUnsafeBytes { fsetxattr(rawValue, attribute, $0.baseAddress, $0.count, flags) }
        }
    }

    /// lsetxattr(2) of entry `name`, reached through /proc/self/fd so that nothing but this
    /// descriptor is resolved (the xattr calls have no *at form).
    public func setExtendedAttribute(of name: String, _ attribute: String, _ value: [UInt8], createOnly: Bool = false)
        throws(SystemCallError)
    {
        let flags = createOnly ? Int32(XATTR_CREATE) : 0
        let procPath = "/proc/self/fd/\(rawValue)/\(name)"
        try retryingInterrupts("setxattr \(attribute)", path(of: name)) {
            value.withUnsafeBytes { lsetxattr(procPath, attribute, $0.baseAddress, $0.count, flags) }
        }
    }

    /// flistxattr(2): the names of this file's extended attributes.
    public func extendedAttributeNames() throws(SystemCallError) -> [String] {
        let size = try retryingInterrupts("listxattr", path) { flistxattr(rawValue, nil, 0) }
        guard size > 0 else { return [] }
        var names = [CChar](repeating: 0, count: size)
        let listed = try retryingInterrupts("listxattr", path) { flistxattr(rawValue, &names, size) }
        return names[0..<listed].split(separator: 0).map { String(decoding: $0.map { UInt8(bitPattern: $0) }, as: UTF8.self) }
    }

    /// fgetxattr(2): the value of one of this file's extended attributes.
    public func extendedAttribute(_ attribute: String) throws(SystemCallError) -> [UInt8] {
        let size = try retryingInterrupts("getxattr \(attribute)", path) { fgetxattr(rawValue, attribute, nil, 0) }
        var value = [UInt8](repeating: 0, count: size)
        let read = try retryingInterrupts("getxattr \(attribute)", path) {
            value.withUnsafeMutableBytes { fgetxattr(rawValue, attribute, $0.baseAddress, size) }
        }
        return Array(value[0..<read])
    }
}
