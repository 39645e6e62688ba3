import POSIX

/// A directory that paths are resolved inside of, as if it were `/`: symlinks in a path are
/// followed but can never lead out of it (absolute targets restart at the root, `..` stops at it),
/// the way containerd's `fs.RootPath` resolves layer paths. Uses openat2(RESOLVE_IN_ROOT) where
/// the kernel has it, else walks the path one component at a time with O_NOFOLLOW.
final class RootedDirectory {
    let root: FileDescriptor
    /// False once openat2 answered ENOSYS (or when tests force the walk).
    var useOpenat2: Bool

    /// The most symlinks one resolution follows (containerd's RootPath allows 255).
    static let maxSymlinks = 255

    init(path: String, useOpenat2: Bool = true) throws(SystemCallError) {
        root = try FileDescriptor.open(path, options: .directory)
        self.useOpenat2 = useOpenat2
    }

    /// What to do with a directory that the walk has to create.
    typealias MakeDirectory = (_ parent: FileDescriptor, _ name: String, _ path: [String]) throws -> Void

    /// Opens the directory at `components` (already lexically clean, relative to the root).
    /// Missing directories are created with `create` when given; otherwise a missing one throws ENOENT.
    func openDirectory(_ components: [String], create: MakeDirectory? = nil) throws -> FileDescriptor {
        if components.isEmpty { return try root.open(".", options: .directory) }
        if useOpenat2 {
            do {
                return try root.openInRoot(components.joined(separator: "/"), options: .directory)
            } catch {
                switch error.errno {
                case .noFunction, .invalidArgument:
                    // No openat2, or no RESOLVE_IN_ROOT: walk from now on.
                    useOpenat2 = false
                case .noSuchFileOrDirectory, .tooManySymbolicLinkLevels, .fileNameTooLong:
                    // The walk creates what is missing, follows up to 255 links (as containerd does)
                    // and has no PATH_MAX.
                    break
                default:
                    throw error
                }
            }
        }
        return try walk(components, create: create)
    }

    /// Resolves `components` one at a time from the root, never following a symlink with the
    /// kernel: each link is read and its target spliced into the remaining path. Holds one
    /// descriptor at a time (`..` reopens the parent, never above the root), so depth is unbounded.
    private func walk(_ components: [String], create: MakeDirectory?) throws -> FileDescriptor {
        var current = try root.open(".", options: .directory)
        var names: [String] = []
        var pending = ArraySlice(components.reversed())
        var followed = 0
        while let component = pending.popLast() {
            if component.isEmpty || component == "." { continue }
            if component == ".." {
                if !names.isEmpty {
                    names.removeLast()
                    current = try current.open("..", options: .directory)
                }
                continue
            }
            guard let info = try current.status(of: component) else {
                guard let create else {
                    throw SystemCallError(operation: "open", path: current.path(of: component), errno: .noSuchFileOrDirectory)
                }
                try create(current, component, names + [component])
                current = try current.open(component, options: [.directory, .noFollow])
                names.append(component)
                continue
            }
            switch info.kind {
            case .directory:
                current = try current.open(component, options: [.directory, .noFollow])
                names.append(component)
            case .symbolicLink:
                followed += 1
                guard followed <= Self.maxSymlinks else {
                    throw SystemCallError(operation: "resolve", path: current.path(of: component), errno: .tooManySymbolicLinkLevels)
                }
                let target = try current.readLink(component)
                if target.first == UInt8(ascii: "/") {
                    current = try root.open(".", options: .directory)
                    names = []
                }
                let parts = target.split(separator: UInt8(ascii: "/")).map { String(decoding: $0, as: UTF8.self) }
                pending.append(contentsOf: parts.reversed())
            default:
                throw SystemCallError(operation: "open", path: current.path(of: component), errno: .notDirectory)
            }
        }
        return current
    }
}

extension RootedDirectory {
    enum Lookup {
        case directory(FileDescriptor)
        case missing
        /// Something other than a directory is at the path (or above it).
        case notDirectory
    }

    /// What is at `components`, without creating anything.
    func lookUpDirectory(_ components: [String]) throws -> Lookup {
        do {
            return .directory(try openDirectory(components))
        } catch let error as SystemCallError {
            if error.errno == .noSuchFileOrDirectory { return .missing }
            if error.errno == .notDirectory { return .notDirectory }
            throw error
        }
    }
}
