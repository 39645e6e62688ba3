import POSIX
import Tar

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

/// Why a layer entry could not be applied. `path` is the entry's name inside the layer; `cause`
/// the system call that failed, when one did (its path is the file's on this machine).
public struct ApplyError: Error, CustomStringConvertible, Sendable {
    public var path: String
    public var reason: String
    public var cause: SystemCallError?

    public init(path: String, reason: String, cause: SystemCallError? = nil) {
        self.path = path
        self.reason = reason
        self.cause = cause
    }

    init(path: String, _ cause: SystemCallError) {
        self.init(path: path, reason: "\(cause)", cause: cause)
    }

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
    private var directoryTimes: [(components: [String], times: FileTimes)] = []
    private var file: RegularFileWriter?
    /// The parent directory of the previous entry, reused while nothing was removed or linked.
    private var cachedParent: (components: ArraySlice<String>, descriptor: FileDescriptor)?
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
        try attributed(to: entry) { try apply(entry) }
    }

    public func tarEntryData(_ bytes: UnsafeRawBufferPointer) throws {
        guard let writer = file else { return }
        try attributed(to: writer.entry) { try writer.write(bytes) }
    }

    public func tarEntryEnded() throws {
        guard let writer = file else { return }
        file = nil
        try attributed(to: writer.entry) { try writer.finish() }
    }

    /// Runs `body` for `entry`; what it throws becomes an `ApplyError` naming the entry (a
    /// failed system call stays its cause).
    private func attributed(to entry: TarEntry, _ body: () throws -> Void) throws(ApplyError) {
        do {
            try body()
        } catch let error as ApplyError {
            throw error
        } catch let error as SystemCallError {
            throw ApplyError(path: entry.path, error)
        } catch {
            throw ApplyError(path: entry.path, reason: "\(error)")
        }
    }

    /// Sets the times of the layer's directories, last, as containerd does (in tar order,
    /// following a final symlink inside the root).
    public func finish() throws {
        for (components, times) in directoryTimes {
            guard let directory = try? root.openDirectory(components) else { continue }
            try directory.setTimes(access: times.access, modification: times.modification)
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
        if let existing = try parent.status(of: base) {
            let bothDirectories = existing.kind == .directory && entry.type == .directory
            if !bothDirectories {
                try parent.removeTree(base)
                cachedParent = nil
            }
        }
        if case .plain = mode { unpacked.insert(components.joined(separator: "/")) }

        switch entry.type {
        case .regular:
            let descriptor = try parent.open(
                base, .writeOnly, options: [.create, .exclusive, .noFollow], permissions: 0o600)
            // Data, then metadata, arrive through tarEntryData/tarEntryEnded.
            file = RegularFileWriter(descriptor: descriptor, entry: entry)
            return
        case .directory:
            if try parent.status(of: base) == nil {
                try parent.makeDirectory(base, permissions: 0o700)
            }
            directoryTimes.append((components, Self.times(entry)))
        case .symbolicLink:
            try parent.makeSymbolicLink(base, to: entry.linkPath)
            cachedParent = nil
        case .hardLink:
            try link(entry, into: parent, as: base)
        case .characterDevice, .blockDevice, .fifo:
            let kind: FileKind = entry.type == .fifo ? .fifo : entry.type == .blockDevice ? .blockDevice : .characterDevice
            try parent.makeNode(
                base, kind, permissions: entry.mode & 0o7777, major: entry.deviceMajor, minor: entry.deviceMinor)
        case .unsupported:
            return
        }
        try setMetadata(of: base, in: parent, entry: entry)
    }

    private func link(_ entry: TarEntry, into parent: FileDescriptor, as base: String) throws {
        guard let target = TarPath.normalize(entry.linkName), let targetBase = target.last else {
            throw ApplyError(path: entry.path, reason: "hardlink target \"\(entry.linkPath)\" climbs above the layer's root")
        }
        let targetComponents = try target.map { try Self.component($0, entry) }
        let targetParent = try root.openDirectory(Array(targetComponents.dropLast()))
        let targetName = try Self.component(targetBase, entry)
        try Self.explaining(
            .noSuchFileOrDirectory, "hardlink target \"\(entry.linkPath)\" is not in this layer (containerd refuses it too)",
            entry
        ) { () throws(SystemCallError) in try parent.makeHardLink(base, to: targetName, in: targetParent) }
    }

    /// Owner, xattrs, mode and times, in containerd's order (chown first: it clears setuid).
    private func setMetadata(of base: String, in parent: FileDescriptor, entry: TarEntry) throws {
        try changeOwner(of: base, in: parent, to: entry)
        for xattr in entry.xattrs {
            try Self.toleratingXattrFailure(entry) { () throws(SystemCallError) in
                try parent.setExtendedAttribute(of: base, xattr.name, xattr.value)
            }
        }
        if entry.type != .symbolicLink {
            try parent.changeMode(of: base, entry.mode & 0o7777)
        }
        if entry.type != .directory {
            let times = Self.times(entry)
            try parent.setTimes(of: base, access: times.access, modification: times.modification)
        }
    }

    /// lchown to the header's numeric ids.
    private func changeOwner(of name: String, in parent: FileDescriptor, to entry: TarEntry) throws {
        try parent.changeOwner(
            of: name, userID: UInt32(truncatingIfNeeded: entry.uid), groupID: UInt32(truncatingIfNeeded: entry.gid))
    }

    /// Runs `call`; its errno `code` becomes `explanation`, any other failure says what failed.
    static func explaining(
        _ code: Errno, _ explanation: @autoclosure () -> String, _ entry: TarEntry,
        _ call: () throws(SystemCallError) -> Void
    ) throws(ApplyError) {
        do {
            try call()
        } catch {
            if error.errno == code { throw ApplyError(path: entry.path, reason: explanation(), cause: error) }
            throw ApplyError(path: entry.path, error)
        }
    }

    /// Sets an xattr; containerd ignores ENOTSUP, and EPERM on objects other than files and directories.
    static func toleratingXattrFailure(_ entry: TarEntry, _ call: () throws(SystemCallError) -> Void) throws(ApplyError) {
        do {
            try call()
        } catch {
            if error.errno == .notSupported { return }
            if error.errno == .notPermitted && entry.type != .regular && entry.type != .directory { return }
            throw ApplyError(path: entry.path, error)
        }
    }

    // MARK: Whiteouts

    private func whiteout(_ base: String, in parent: FileDescriptor, at parentComponents: ArraySlice<String>,
                          entry: TarEntry) throws {
        if base == ".wh..wh..opq" {
            switch mode {
            case .overlayUpper(_, let userXattr):
                let name = userXattr ? "user.overlay.opaque" : "trusted.overlay.opaque"
                do {
                    try parent.setExtendedAttribute(name, Array("y".utf8))
                } catch {
                    throw ApplyError(path: entry.path, reason: "cannot mark the directory opaque: \(error)", cause: error)
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
            try Self.explaining(.fileExists, "the whiteout hides \"\(name)\", which this layer created", entry) {
                () throws(SystemCallError) in try parent.makeNode(name, .characterDevice, permissions: 0)
            }
            try changeOwner(of: name, in: parent, to: entry)
        case .plain:
            try parent.removeTree(name)
            cachedParent = nil
        }
    }

    /// Removes everything below `directory` that this layer did not create (plain-mode opaque).
    private func prune(_ directory: FileDescriptor, at path: String) throws {
        for name in try directory.entries() {
            let child = path.isEmpty ? name : path + "/" + name
            if !unpacked.contains(child) {
                try directory.removeTree(name)
            } else if try directory.status(of: name)?.kind == .directory {
                try prune(try directory.open(name, options: [.directory, .noFollow]), at: child)
            }
        }
    }

    // MARK: Parents

    /// The entry's parent directory, created (with containerd's `mkparent` attributes) if missing.
    private func parentDirectory(_ components: ArraySlice<String>) throws -> FileDescriptor {
        if let cached = cachedParent, cached.components == components { return cached.descriptor }
        let descriptor = try root.openDirectory(Array(components)) { parent, name, path in
            try self.makeParent(parent, name, path)
        }
        cachedParent = (components, descriptor)
        return descriptor
    }

    private func makeParent(_ parent: FileDescriptor, _ name: String, _ path: [String]) throws {
        try parent.makeDirectory(name, permissions: 0o755)
        try parent.changeMode(of: name, 0o755)
        if case .plain = mode { unpacked.insert(path.joined(separator: "/")) }
        // Overlay upper: take owner, mode, times and (non-trusted) xattrs of the first lower that has it.
        for lower in lowers {
            let source: FileDescriptor
            switch try lower.lookUpDirectory(path) {
            case .directory(let found): source = found
            case .missing: continue
            case .notDirectory: return  // replaced in that lower: keep the defaults, as containerd does
            }
            let info = try source.status()
            try parent.changeOwner(of: name, userID: info.ownerID, groupID: info.groupID)
            try parent.changeMode(of: name, info.permissions)
            try parent.setTimes(of: name, access: info.accessTime, modification: info.modificationTime)
            copyXattrs(from: source, to: name, in: parent)
            return
        }
    }

    /// Best effort, as containerd's copy: an xattr that cannot be read or set is left out.
    private func copyXattrs(from source: FileDescriptor, to name: String, in parent: FileDescriptor) {
        guard let names = try? source.extendedAttributeNames() else { return }
        for attribute in names where !attribute.hasPrefix("trusted.") {
            guard let value = try? source.extendedAttribute(attribute) else { continue }
            try? parent.setExtendedAttribute(of: name, attribute, value, createOnly: true)
        }
    }

    // MARK: Helpers

    static func component(_ bytes: ArraySlice<UInt8>, _ entry: TarEntry) throws -> String {
        guard let text = String(validating: bytes, as: UTF8.self), !text.utf8.contains(0) else {
            throw ApplyError(path: entry.path, reason: "the path is not valid UTF-8, which this applier does not support")
        }
        return text
    }

    typealias FileTimes = (access: FileTime, modification: FileTime)

    /// atime = max(atime, mtime), both clamped to the Unix epoch, as containerd's `chtimes` does.
    static func times(_ entry: TarEntry) -> FileTimes {
        func clamp(_ time: TarTime) -> FileTime {
            time.seconds < 0 ? FileTime(seconds: 0, nanoseconds: 0) : FileTime(seconds: Int(time.seconds), nanoseconds: Int(time.nanoseconds))
        }
        let modified = entry.modificationTime
        var accessed = entry.accessTime ?? modified
        if (accessed.seconds, accessed.nanoseconds) < (modified.seconds, modified.nanoseconds) { accessed = modified }
        return (clamp(accessed), clamp(modified))
    }
}

/// True when this process runs in a user namespace that does not map the whole id range,
/// the test containerd uses (`pkg/userns`) to skip device nodes.
func runningInUserNamespace() -> Bool {
    guard let map = try? FileSystem.readFile("/proc/self/uid_map", limit: 1 << 16) else { return false }
    let line = map.prefix { $0 != UInt8(ascii: "\n") }
    let fields = line.split(whereSeparator: { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") })
    return fields.map { String(decoding: $0, as: UTF8.self) } != ["0", "0", "4294967295"]
}
