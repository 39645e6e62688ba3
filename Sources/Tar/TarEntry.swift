/// The kind of a tar entry after GNU and PAX extensions were folded into it.
public enum TarEntryType: Equatable, Sendable, CustomStringConvertible {
    case regular
    case hardLink
    case symbolicLink
    case characterDevice
    case blockDevice
    case directory
    case fifo
    /// A type flag this parser does not interpret (GNU volume headers, multi-volume parts, …).
    case unsupported(UInt8)

    public var description: String {
        switch self {
        case .regular: return "regular file"
        case .hardLink: return "hardlink"
        case .symbolicLink: return "symlink"
        case .characterDevice: return "character device"
        case .blockDevice: return "block device"
        case .directory: return "directory"
        case .fifo: return "fifo"
        case .unsupported(let flag):
            let printable = (0x21...0x7e).contains(flag) ? "'\(Character(UnicodeScalar(flag)))'" : "0x\(String(flag, radix: 16))"
            return "unsupported type \(printable)"
        }
    }
}

/// A timestamp with the precision PAX records can carry.
public struct TarTime: Equatable, Sendable {
    public var seconds: Int64
    public var nanoseconds: Int32

    public init(seconds: Int64, nanoseconds: Int32 = 0) {
        self.seconds = seconds
        self.nanoseconds = nanoseconds
    }
}

/// An extended attribute from a PAX `SCHILY.xattr.<name>` record.
public struct TarXattr: Equatable, Sendable {
    public var name: String
    public var value: [UInt8]
}

/// How a sparse file's holes are described.
public enum TarSparse: Equatable, Sendable {
    /// Old GNU (`S` type flag) or PAX 0.0/0.1: the map came with the headers.
    /// Each region is (offset in the real file, length); the archive holds the regions' bytes in order.
    case map(regions: [Region], realSize: Int64)
    /// PAX 1.0: the map is at the start of the entry's data, in decimal text.
    case mapInData(realSize: Int64)

    public struct Region: Equatable, Sendable {
        public var offset: Int64
        public var length: Int64

        public init(offset: Int64, length: Int64) {
            self.offset = offset
            self.length = length
        }
    }
}

/// One entry of a tar stream, with GNU long names and PAX records already applied.
public struct TarEntry: Sendable {
    /// The path exactly as the archive spells it (bytes; usually UTF-8).
    public var name: [UInt8]
    /// Link target of hardlinks and symlinks.
    public var linkName: [UInt8]
    public var type: TarEntryType
    /// Permission bits with setuid, setgid and sticky (the low 12 bits of the mode field).
    public var mode: UInt32
    public var uid: Int64
    public var gid: Int64
    /// Bytes of data that follow the header in the archive.
    public var size: Int64
    public var modificationTime: TarTime
    public var accessTime: TarTime?
    public var changeTime: TarTime?
    public var deviceMajor: UInt32
    public var deviceMinor: UInt32
    public var xattrs: [TarXattr]
    public var sparse: TarSparse?
    /// Offset of the entry's first header in the stream (the first GNU/PAX header if any).
    public var headerOffset: Int64

    /// The path for messages.
    public var path: String { String(decoding: name, as: UTF8.self) }
    /// The link target for messages.
    public var linkPath: String { String(decoding: linkName, as: UTF8.self) }
}
