import CLinuxShims
import Tar

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Where a layer is applied.
public enum ApplyMode: Sendable, Equatable {
    /// A plain directory holding the layers below (native snapshots, bind mounts): whiteouts
    /// delete, opaque directories are emptied of what earlier layers put there.
    case plain
    /// An overlayfs upper directory; `lowers` are the snapshot's lower directories, nearest first.
    /// Whiteouts become 0/0 character devices, opaque markers the `trusted.overlay.opaque` xattr
    /// (`user.overlay.opaque` when the mount uses `userxattr`), and directories the layer implies
    /// are created with the attributes of the nearest lower.
    case overlayUpper(lowers: [String], userXattr: Bool = false)
}

/// Why a layer entry could not be applied. `path` is the entry's name inside the layer.
public struct ApplyError: Error, CustomStringConvertible, Sendable {
    public var path: String
    public var reason: String

    public var description: String { "entry \"\(path)\": \(reason)" }
}

/// Applies the entries of one layer's tar stream to a directory with the semantics of
/// containerd's `archive/tar.go` applier, resolving every path inside the directory.
///
/// Feed it through a `TarParser`; call `finish()` after the parser finished.
public final class LayerApplier: TarConsumer {
    private let root: RootedDirectory
    private let mode: ApplyMode
    private let lowers: [RootedDirectory]
    private let skipDevices: Bool
    /// Paths this layer created so far (plain mode: what an opaque marker keeps).
    private var unpacked: Set<String> = []
    /// Directory entries and their times, set once everything else is in place.
    private var directoryTimes: [(components: [String], times: [timespec])] = []
    private var file: RegularFileWriter?
    /// The parent directory of the previous entry, reused while nothing was removed or linked.
    private var cachedParent: (components: ArraySlice<String>, descriptor: Descriptor)?
    public private(set) var entryCount = 0

    /// - Parameters:
    ///   - useOpenat2: false forces the component walk (tests of the fallback).
    ///   - skipDevices: nil detects it: device nodes are skipped inside a user namespace, as containerd does.
    public init(root: String, mode: ApplyMode, useOpenat2: Bool = true, skipDevices: Bool? = nil) throws {
        self.root = try RootedDirectory(path: root, useOpenat2: useOpenat2)
        self.mode = mode
        if case .overlayUpper(let lowerPaths, _) = mode {
            lowers = try lowerPaths.map { try RootedDirectory(path: $0, useOpenat2: useOpenat2) }
        } else {
            lowers = []
        }
        self.skipDevices = skipDevices ?? runningInUserNamespace()
    }

    // MARK: TarConsumer

    public func tarEntryBegan(_ entry: TarEntry) throws {
        entryCount += 1
        do {
            try apply(entry)
        } catch let error as ApplyError {
            throw error
        } catch {
            throw ApplyError(path: entry.path, reason: "\(error)")
        }
    }

    public func tarEntryData(_ bytes: UnsafeRawBufferPointer) throws {
        try file?.write(bytes)
    }

    public func tarEntryEnded() throws {
        guard let writer = file else { return }
        file = nil
        do {
            try writer.finish()
        } catch {
            throw ApplyError(path: writer.entry.path, reason: "\(error)")
        }
    }

    /// Sets the times of the layer's directories, last, as containerd does (in tar order,
    /// following a final symlink inside the root).
    public func finish() throws {
        for (components, times) in directoryTimes {
            guard let directory = try? root.openDirectory(components) else { continue }
            try retrying("utimens", components.joined(separator: "/")) { futimens(directory.fd, times) }
        }
        directoryTimes.removeAll()
    }

    // MARK: Entries

    private func apply(_ entry: TarEntry) throws {
        guard let normalized = TarPath.normalize(entry.name) else {
            throw ApplyError(path: entry.path, reason: "the path climbs above the layer's root")
        }
        let components = try normalized.map { try Self.component($0, entry) }
        guard let base = components.last else { return }  // the root itself: containerd ignores it
        if case .unsupported = entry.type {
            throw ApplyError(path: entry.path, reason: "\(entry.type) cannot be applied")
        }
        if skipDevices && (entry.type == .characterDevice || entry.type == .blockDevice) { return }
        let parentComponents = components.dropLast()
        let parent = try parentDirectory(parentComponents)

        if base.hasPrefix(".wh.") {
            try whiteout(base, in: parent, at: parentComponents, entry: entry)
            return
        }
        if let existing = try parent.status(base) {
            let bothDirectories = (existing.st_mode & S_IFMT) == S_IFDIR && entry.type == .directory
            if !bothDirectories {
                try parent.removeAll(base)
                cachedParent = nil
            }
        }
        if case .plain = mode { unpacked.insert(components.joined(separator: "/")) }

        switch entry.type {
        case .regular:
            let fd = try retrying("create", entry.path) {
                openat(parent.fd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            }
            // Data, then metadata, arrive through tarEntryData/tarEntryEnded.
            file = RegularFileWriter(descriptor: Descriptor(fd), entry: entry)
            return
        case .directory:
            if try parent.status(base) == nil {
                try retrying("mkdir", entry.path) { mkdirat(parent.fd, base, 0o700) }
            }
            directoryTimes.append((components, Self.times(entry)))
        case .symbolicLink:
            try retrying("symlink", entry.path) { symlinkat(entry.linkPath, parent.fd, base) }
            cachedParent = nil
        case .hardLink:
            try link(entry, into: parent, as: base)
        case .characterDevice, .blockDevice, .fifo:
            let kind: mode_t = entry.type == .fifo ? S_IFIFO : entry.type == .blockDevice ? S_IFBLK : S_IFCHR
            let device = kni_makedev(entry.deviceMajor, entry.deviceMinor)
            try retrying("mknod", entry.path) { mknodat(parent.fd, base, kind | mode_t(entry.mode & 0o7777), device) }
        case .unsupported:
            return
        }
        try setMetadata(of: base, in: parent, entry: entry)
    }

    private func link(_ entry: TarEntry, into parent: Descriptor, as base: String) throws {
        guard let target = TarPath.normalize(entry.linkName), let targetBase = target.last else {
            throw ApplyError(path: entry.path, reason: "hardlink target \"\(entry.linkPath)\" climbs above the layer's root")
        }
        let targetComponents = try target.map { try Self.component($0, entry) }
        let targetParent = try root.openDirectory(Array(targetComponents.dropLast()))
        let targetName = try Self.component(targetBase, entry)
        try Self.check(
            linkat(targetParent.fd, targetName, parent.fd, base, 0), entry, "link to \"\(entry.linkPath)\"",
            explaining: ENOENT, "hardlink target \"\(entry.linkPath)\" is not in this layer (containerd refuses it too)")
    }

    /// Owner, xattrs, mode and times, in containerd's order (chown first: it clears setuid).
    private func setMetadata(of base: String, in parent: Descriptor, entry: TarEntry) throws {
        try changeOwner(of: base, in: parent, to: entry)
        if !entry.xattrs.isEmpty {
            let path = parent.procPath(base)
            for xattr in entry.xattrs {
                let result = xattr.value.withUnsafeBytes { lsetxattr(path, xattr.name, $0.baseAddress, $0.count, 0) }
                if result != 0 { try Self.tolerateXattrFailure(errno, xattr: xattr.name, entry: entry) }
            }
        }
        if entry.type != .symbolicLink {
            try retrying("chmod", entry.path) { fchmodat(parent.fd, base, mode_t(entry.mode & 0o7777), 0) }
        }
        if entry.type != .directory {
            var times = Self.times(entry)
            try retrying("utimens", entry.path) { utimensat(parent.fd, base, &times, AT_SYMLINK_NOFOLLOW) }
        }
    }

    /// lchown to the header's numeric ids.
    private func changeOwner(of name: String, in parent: Descriptor, to entry: TarEntry) throws {
        try retrying("chown", entry.path) {
            fchownat(parent.fd, name, uid_t(truncatingIfNeeded: entry.uid), gid_t(truncatingIfNeeded: entry.gid),
                     AT_SYMLINK_NOFOLLOW)
        }
    }

    /// Throws for a failed call (`result` != 0): the errno `code` gets `explanation`, others their text.
    static func check(_ result: Int32, _ entry: TarEntry, _ call: String, explaining code: Int32,
                      _ explanation: @autoclosure () -> String) throws {
        guard result != 0 else { return }
        let failure = errno
        throw ApplyError(
            path: entry.path, reason: failure == code ? explanation() : "\(call): \(String(cString: strerror(failure)))")
    }

    /// containerd ignores ENOTSUP, and EPERM on objects other than files and directories.
    static func tolerateXattrFailure(_ code: Int32, xattr: String, entry: TarEntry) throws {
        if code == ENOTSUP { return }
        if code == EPERM && entry.type != .regular && entry.type != .directory { return }
        throw ApplyError(path: entry.path, reason: "setxattr \(xattr): \(String(cString: strerror(code)))")
    }

    // MARK: Whiteouts

    private func whiteout(_ base: String, in parent: Descriptor, at parentComponents: ArraySlice<String>,
                          entry: TarEntry) throws {
        if base == ".wh..wh..opq" {
            switch mode {
            case .overlayUpper(_, let userXattr):
                let name = userXattr ? "user.overlay.opaque" : "trusted.overlay.opaque"
                let result = fsetxattr(parent.fd, name, "y", 1, 0)
                if result != 0 {
                    throw ApplyError(path: entry.path, reason: "cannot mark the directory opaque: \(String(cString: strerror(errno)))")
                }
            case .plain:
                try prune(parent, at: parentComponents.joined(separator: "/"))
                cachedParent = nil
            }
            return
        }
        let name = String(base.dropFirst(4))
        guard !name.isEmpty, name != ".", name != ".." else {
            throw ApplyError(path: entry.path, reason: "the whiteout does not name an entry of its directory")
        }
        switch mode {
        case .overlayUpper:
            try Self.check(
                mknodat(parent.fd, name, S_IFCHR, kni_makedev(0, 0)), entry, "mknod \(name)",
                explaining: EEXIST, "the whiteout hides \"\(name)\", which this layer created")
            try changeOwner(of: name, in: parent, to: entry)
        case .plain:
            try parent.removeAll(name)
            cachedParent = nil
        }
    }

    /// Removes everything below `directory` that this layer did not create (plain-mode opaque).
    private func prune(_ directory: Descriptor, at path: String) throws {
        for name in try directory.entries() {
            let child = path.isEmpty ? name : path + "/" + name
            if !unpacked.contains(child) {
                try directory.removeAll(name)
            } else if let info = try directory.status(name), (info.st_mode & S_IFMT) == S_IFDIR {
                try prune(try directory.open(name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW), at: child)
            }
        }
    }

    // MARK: Parents

    /// The entry's parent directory, created (with containerd's `mkparent` attributes) if missing.
    private func parentDirectory(_ components: ArraySlice<String>) throws -> Descriptor {
        if let cached = cachedParent, cached.components == components { return cached.descriptor }
        let descriptor = try root.openDirectory(Array(components)) { parent, name, path in
            try self.makeParent(parent, name, path)
        }
        cachedParent = (components, descriptor)
        return descriptor
    }

    private func makeParent(_ parent: Descriptor, _ name: String, _ path: [String]) throws {
        try retrying("mkdir", path.joined(separator: "/")) { mkdirat(parent.fd, name, 0o755) }
        try retrying("chmod", path.joined(separator: "/")) { fchmodat(parent.fd, name, 0o755, 0) }
        if case .plain = mode { unpacked.insert(path.joined(separator: "/")) }
        // Overlay upper: take owner, mode, times and (non-trusted) xattrs of the first lower that has it.
        for lower in lowers {
            let source: Descriptor
            switch try lower.lookUpDirectory(path) {
            case .directory(let found): source = found
            case .missing: continue
            case .notDirectory: return  // replaced in that lower: keep the defaults, as containerd does
            }
            let info = try source.status()
            try retrying("chown", name) { fchownat(parent.fd, name, info.st_uid, info.st_gid, AT_SYMLINK_NOFOLLOW) }
            try retrying("chmod", name) { fchmodat(parent.fd, name, info.st_mode & 0o7777, 0) }
            var times = [info.st_atim, info.st_mtim]
            try retrying("utimens", name) { utimensat(parent.fd, name, &times, AT_SYMLINK_NOFOLLOW) }
            try copyXattrs(from: source, to: parent.procPath(name))
            return
        }
    }

    private func copyXattrs(from source: Descriptor, to path: String) throws {
        let size = flistxattr(source.fd, nil, 0)
        guard size > 0 else { return }
        var names = [CChar](repeating: 0, count: size)
        let listed = flistxattr(source.fd, &names, size)
        guard listed > 0 else { return }
        for raw in names[0..<listed].split(separator: 0) {
            let name = String(decoding: raw.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if name.hasPrefix("trusted.") { continue }
            let length = fgetxattr(source.fd, name, nil, 0)
            guard length >= 0 else { continue }
            var value = [UInt8](repeating: 0, count: length)
            guard fgetxattr(source.fd, name, &value, length) == length else { continue }
            _ = value.withUnsafeBytes { lsetxattr(path, name, $0.baseAddress, $0.count, Int32(XATTR_CREATE)) }
        }
    }

    // MARK: Helpers

    static func component(_ bytes: ArraySlice<UInt8>, _ entry: TarEntry) throws -> String {
        guard let text = String(validating: bytes, as: UTF8.self), !text.utf8.contains(0) else {
            throw ApplyError(path: entry.path, reason: "the path is not valid UTF-8, which this applier does not support")
        }
        return text
    }

    /// atime = max(atime, mtime), both clamped to the Unix epoch, as containerd's `chtimes` does.
    static func times(_ entry: TarEntry) -> [timespec] {
        func clamp(_ time: TarTime) -> timespec {
            time.seconds < 0 ? timespec(tv_sec: 0, tv_nsec: 0) : timespec(tv_sec: Int(time.seconds), tv_nsec: Int(time.nanoseconds))
        }
        let modified = entry.modificationTime
        var accessed = entry.accessTime ?? modified
        if (accessed.seconds, accessed.nanoseconds) < (modified.seconds, modified.nanoseconds) { accessed = modified }
        return [clamp(accessed), clamp(modified)]
    }
}
