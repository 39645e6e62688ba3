import CLinuxShims

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A directory that paths are resolved inside of, as if it were `/`: symlinks in a path are
/// followed but can never lead out of it (absolute targets restart at the root, `..` stops at it),
/// the way containerd's `fs.RootPath` resolves layer paths. Uses openat2(RESOLVE_IN_ROOT) where
/// the kernel has it, else walks the path one component at a time with O_NOFOLLOW.
final class RootedDirectory {
    let root: Descriptor
    /// False once openat2 answered ENOSYS (or when tests force the walk).
    var useOpenat2: Bool

    /// The most symlinks one resolution follows (containerd's RootPath allows 255).
    static let maxSymlinks = 255

    init(path: String, useOpenat2: Bool = true) throws(SystemCallError) {
        root = Descriptor(try retrying("open", path) { open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) })
        self.useOpenat2 = useOpenat2
    }

    /// What to do with a directory that the walk has to create.
    typealias MakeDirectory = (_ parent: Descriptor, _ name: String, _ path: [String]) throws -> Void

    /// Opens the directory at `components` (already lexically clean, relative to the root).
    /// Missing directories are created with `create` when given; otherwise a missing one throws ENOENT.
    func openDirectory(_ components: [String], create: MakeDirectory? = nil) throws -> Descriptor {
        if components.isEmpty { return try root.open(".", O_RDONLY | O_DIRECTORY) }
        if useOpenat2 {
            let fd = kni_openat2(
                root.fd, components.joined(separator: "/"), O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0, kni_resolve_in_root())
            if fd >= 0 { return Descriptor(fd) }
            switch errno {
            case ENOSYS, EINVAL:
                // No openat2, or no RESOLVE_IN_ROOT: walk from now on.
                useOpenat2 = false
            case ENOENT, ELOOP, ENAMETOOLONG:
                // The walk creates what is missing, follows up to 255 links (as containerd does)
                // and has no PATH_MAX.
                break
            case let code:
                throw SystemCallError(call: "openat2", path: components.joined(separator: "/"), errno: code)
            }
        }
        return try walk(components, create: create)
    }

    /// Resolves `components` one at a time from the root, never following a symlink with the
    /// kernel: each link is read and its target spliced into the remaining path. Holds one
    /// descriptor at a time (`..` reopens the parent, never above the root), so depth is unbounded.
    private func walk(_ components: [String], create: MakeDirectory?) throws -> Descriptor {
        var current = try root.open(".", O_RDONLY | O_DIRECTORY)
        var names: [String] = []
        var pending = ArraySlice(components.reversed())
        var followed = 0
        while let component = pending.popLast() {
            if component.isEmpty || component == "." { continue }
            if component == ".." {
                if !names.isEmpty {
                    names.removeLast()
                    current = try current.open("..", O_RDONLY | O_DIRECTORY)
                }
                continue
            }
            guard let info = try current.status(component) else {
                guard let create else {
                    throw SystemCallError(call: "open", path: component, errno: ENOENT)
                }
                try create(current, component, names + [component])
                current = try current.open(component, O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
                names.append(component)
                continue
            }
            switch info.st_mode & S_IFMT {
            case S_IFDIR:
                current = try current.open(component, O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
                names.append(component)
            case S_IFLNK:
                followed += 1
                guard followed <= Self.maxSymlinks else {
                    throw SystemCallError(call: "resolve", path: component, errno: ELOOP)
                }
                let target = try current.readLink(component)
                if target.first == UInt8(ascii: "/") {
                    current = try root.open(".", O_RDONLY | O_DIRECTORY)
                    names = []
                }
                let parts = target.split(separator: UInt8(ascii: "/")).map { String(decoding: $0, as: UTF8.self) }
                pending.append(contentsOf: parts.reversed())
            default:
                throw SystemCallError(call: "open", path: component, errno: ENOTDIR)
            }
        }
        return current
    }
}

extension RootedDirectory {
    enum Lookup {
        case directory(Descriptor)
        case missing
        /// Something other than a directory is at the path (or above it).
        case notDirectory
    }

    /// What is at `components`, without creating anything.
    func lookUpDirectory(_ components: [String]) throws -> Lookup {
        do {
            return .directory(try openDirectory(components))
        } catch let error as SystemCallError {
            if error.errno == ENOENT { return .missing }
            if error.errno == ENOTDIR { return .notDirectory }
            throw error
        }
    }
}
