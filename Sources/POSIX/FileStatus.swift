#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// What kind of object a directory entry is.
public enum FileKind: Sendable, Equatable {
    case regular, directory, symbolicLink, characterDevice, blockDevice, fifo, socket

    init(mode: mode_t) {
        switch mode & S_IFMT {
        case S_IFDIR: self = .directory
        case S_IFLNK: self = .symbolicLink
        case S_IFCHR: self = .characterDevice
        case S_IFBLK: self = .blockDevice
        case S_IFIFO: self = .fifo
        case S_IFSOCK: self = .socket
        default: self = .regular
        }
    }

    /// The S_IF* bits, for mknod.
    var modeBits: mode_t {
        switch self {
        case .regular: return S_IFREG
        case .directory: return S_IFDIR
        case .symbolicLink: return S_IFLNK
        case .characterDevice: return S_IFCHR
        case .blockDevice: return S_IFBLK
        case .fifo: return S_IFIFO
        case .socket: return S_IFSOCK
        }
    }
}

/// A point in time as the file system records it (seconds since the Unix epoch).
public struct FileTime: Sendable, Equatable {
    public var seconds: Int
    public var nanoseconds: Int

    public init(seconds: Int, nanoseconds: Int) {
        self.seconds = seconds
        self.nanoseconds = nanoseconds
    }

    init(_ time: timespec) { self.init(seconds: Int(time.tv_sec), nanoseconds: Int(time.tv_nsec)) }

    var timespec: timespec { .init(tv_sec: time_t(seconds), tv_nsec: Int(nanoseconds)) }
}

/// What stat(2) says about a file.
public struct FileStatus: Sendable, Equatable {
    public var kind: FileKind
    /// The mode's permission bits with setuid, setgid and sticky (`mode & 0o7777`).
    public var permissions: UInt32
    public var ownerID: UInt32
    public var groupID: UInt32
    public var size: Int64
    public var accessTime: FileTime
    public var modificationTime: FileTime

    init(_ info: stat) {
        kind = FileKind(mode: info.st_mode)
        permissions = UInt32(info.st_mode & 0o7777)
        ownerID = UInt32(info.st_uid)
        groupID = UInt32(info.st_gid)
        size = Int64(info.st_size)
        accessTime = FileTime(info.st_atim)
        modificationTime = FileTime(info.st_mtim)
    }
}
