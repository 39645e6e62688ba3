/// Receives the entries of a tar stream as the parser finds them.
/// For every entry: `tarEntryBegan`, then `tarEntryData` until `entry.size` bytes were given,
/// then `tarEntryEnded`. GNU long-name and PAX headers are folded into the entry they describe;
/// PAX global headers are validated and ignored, as containerd's applier ignores them.
public protocol TarConsumer: AnyObject {
    func tarEntryBegan(_ entry: TarEntry) throws
    func tarEntryData(_ bytes: UnsafeRawBufferPointer) throws
    func tarEntryEnded() throws
}

/// A push-driven tar parser: feed it the stream in chunks of any size, then call `finish`.
/// Reads ustar, GNU (long names, long links, old sparse) and PAX (local and global) headers,
/// never buffers entry data and holds at most `metadataLimit` bytes of extended headers.
public final class TarParser {
    public static let blockSize = 512
    /// Largest GNU long name or PAX header accepted (Go's archive/tar uses the same limit).
    public static let defaultMetadataLimit = 1 << 20

    private enum State {
        /// Collecting a header block.
        case header
        /// A zero block was seen; collecting the next block (a second zero block ends the archive).
        case afterZeroBlock
        /// Collecting GNU old-sparse extension blocks for `entry`.
        case sparseExtension(TarEntry, regions: [TarSparse.Region], realSize: Int64)
        /// Collecting the data of a GNU long name/link or PAX header.
        case metadata(MetadataKind, remaining: Int64, padding: Int)
        /// Passing an entry's data to the consumer.
        case data(remaining: Int64, padding: Int)
        /// Skipping the zero padding to the next block boundary.
        case padding(remaining: Int)
        /// After the end-of-archive marker: everything further is ignored.
        case ended
    }

    private enum MetadataKind {
        case longName, longLink, pax, globalPAX

        var label: String {
            switch self {
            case .longName: return "GNU long name"
            case .longLink: return "GNU long link name"
            case .pax: return "PAX header"
            case .globalPAX: return "PAX global header"
            }
        }
    }

    private let consumer: any TarConsumer
    private let metadataLimit: Int
    private var state: State = .header
    private var block = [UInt8](repeating: 0, count: 512)
    private var blockFill = 0
    private var metadata: [UInt8] = []
    private var metadataOffset: Int64 = 0
    /// Extensions waiting for the entry they describe.
    private var pendingLongName: [UInt8]?
    private var pendingLongLink: [UInt8]?
    private var pendingPAX: [(key: String, value: [UInt8])] = []
    /// Offset of the first header belonging to the next entry.
    private var entryStart: Int64 = 0
    private var currentEntry: TarEntry?
    /// Bytes consumed so far.
    public private(set) var offset: Int64 = 0

    public init(consumer: any TarConsumer, metadataLimit: Int = TarParser.defaultMetadataLimit) {
        self.consumer = consumer
        self.metadataLimit = metadataLimit
    }

    /// Consumes the next bytes of the stream.
    public func feed(_ input: UnsafeRawBufferPointer) throws {
        var rest = input[...]
        while !rest.isEmpty {
            switch state {
            case .ended:
                offset += Int64(rest.count)
                return
            case .header, .afterZeroBlock, .sparseExtension:
                let take = min(Self.blockSize - blockFill, rest.count)
                block.withUnsafeMutableBytes { dest in
                    UnsafeMutableRawBufferPointer(rebasing: dest[blockFill..<(blockFill + take)])
                        .copyMemory(from: UnsafeRawBufferPointer(rebasing: rest.prefix(take)))
                }
                blockFill += take
                offset += Int64(take)
                rest = rest.dropFirst(take)
                if blockFill == Self.blockSize {
                    blockFill = 0
                    try handleBlock()
                }
            case .metadata(let kind, let remaining, let padding):
                let take = Int(min(remaining, Int64(rest.count)))
                metadata.append(contentsOf: UnsafeRawBufferPointer(rebasing: rest.prefix(take)))
                offset += Int64(take)
                rest = rest.dropFirst(take)
                if remaining - Int64(take) == 0 {
                    try handleMetadata(kind)
                    state = padding > 0 ? .padding(remaining: padding) : .header
                } else {
                    state = .metadata(kind, remaining: remaining - Int64(take), padding: padding)
                }
            case .data(let remaining, let padding):
                let take = Int(min(remaining, Int64(rest.count)))
                try consumer.tarEntryData(UnsafeRawBufferPointer(rebasing: rest.prefix(take)))
                offset += Int64(take)
                rest = rest.dropFirst(take)
                if remaining - Int64(take) == 0 {
                    currentEntry = nil
                    try consumer.tarEntryEnded()
                    state = padding > 0 ? .padding(remaining: padding) : .header
                } else {
                    state = .data(remaining: remaining - Int64(take), padding: padding)
                }
            case .padding(let remaining):
                let take = min(remaining, rest.count)
                offset += Int64(take)
                rest = rest.dropFirst(take)
                state = remaining - take == 0 ? .header : .padding(remaining: remaining - take)
            }
        }
    }

    /// Declares the end of the stream. A stream may end after its end-of-archive marker, after a
    /// single zero block, or at an entry boundary (as Go's archive/tar accepts); anywhere else it
    /// is truncated.
    public func finish() throws {
        switch state {
        case .ended:
            return
        case .header, .afterZeroBlock:
            if blockFill == 0 && pendingLongName == nil && pendingLongLink == nil && pendingPAX.isEmpty {
                return
            }
            throw TarError.truncated(entry: nil, offset: offset, missingBytes: Int64(Self.blockSize - blockFill))
        case .sparseExtension(let entry, _, _):
            throw TarError.truncated(entry: entry.path, offset: offset, missingBytes: Int64(Self.blockSize - blockFill))
        case .metadata(_, let remaining, let padding):
            throw TarError.truncated(entry: nil, offset: offset, missingBytes: remaining + Int64(padding))
        case .data(let remaining, let padding):
            throw TarError.truncated(entry: currentEntry?.path, offset: offset, missingBytes: remaining + Int64(padding))
        case .padding(let remaining):
            // The data is complete; only the zero padding is missing.
            throw TarError.truncated(entry: nil, offset: offset, missingBytes: Int64(remaining))
        }
    }

    // MARK: Blocks

    private func handleBlock() throws {
        let blockOffset = offset - Int64(Self.blockSize)
        switch state {
        case .afterZeroBlock:
            if block.allSatisfy({ $0 == 0 }) {
                state = .ended
                return
            }
            throw TarError.badHeader(offset: blockOffset, reason: "a zero block is followed by a non-zero block")
        case .sparseExtension(var entry, var regions, let realSize):
            try block.withUnsafeBytes { raw in
                for index in 0..<21 {
                    if let region = try Self.sparseRegion(raw, at: index * 24, blockOffset: blockOffset) {
                        regions.append(region)
                    }
                }
                if raw[504] != 0 {
                    state = .sparseExtension(entry, regions: regions, realSize: realSize)
                } else {
                    entry.sparse = .map(regions: regions, realSize: realSize)
                    try begin(entry)
                }
            }
        default:
            if block.allSatisfy({ $0 == 0 }) {
                guard pendingLongName == nil, pendingLongLink == nil, pendingPAX.isEmpty else {
                    throw TarError.badHeader(offset: blockOffset, reason: "extended header not followed by an entry")
                }
                state = .afterZeroBlock
                return
            }
            try block.withUnsafeBytes { try parseHeader($0, at: blockOffset) }
        }
    }

    private func parseHeader(_ raw: UnsafeRawBufferPointer, at blockOffset: Int64) throws {
        let header = RawHeader(raw, offset: blockOffset)
        try header.verifyChecksum()
        if pendingLongName == nil && pendingLongLink == nil && pendingPAX.isEmpty {
            entryStart = blockOffset
        }
        let flag = raw[156]
        let size = try header.number(at: 124, length: 12, field: "size")
        guard size >= 0 else { throw TarError.badHeader(offset: blockOffset, reason: "negative size") }

        switch flag {
        case UInt8(ascii: "L"), UInt8(ascii: "K"), UInt8(ascii: "x"), UInt8(ascii: "g"):
            let kind: MetadataKind =
                switch flag {
                case UInt8(ascii: "L"): .longName
                case UInt8(ascii: "K"): .longLink
                case UInt8(ascii: "x"): .pax
                default: .globalPAX
                }
            guard size <= metadataLimit else {
                throw TarError.metadataTooLarge(kind: kind.label, size: size, limit: metadataLimit)
            }
            metadata.removeAll(keepingCapacity: true)
            metadataOffset = blockOffset
            let padding = Self.padding(for: size)
            if size == 0 {
                try handleMetadata(kind)
                state = .header
            } else {
                state = .metadata(kind, remaining: size, padding: padding)
            }
            return
        default:
            break
        }

        var entry = TarEntry(
            name: header.string(at: 0, length: 100),
            linkName: header.string(at: 157, length: 100),
            type: Self.entryType(flag),
            mode: UInt32(truncatingIfNeeded: try header.number(at: 100, length: 8, field: "mode") & 0o7777),
            uid: try header.number(at: 108, length: 8, field: "uid"),
            gid: try header.number(at: 116, length: 8, field: "gid"),
            size: size,
            modificationTime: TarTime(seconds: try header.number(at: 136, length: 12, field: "mtime")),
            accessTime: nil,
            changeTime: nil,
            deviceMajor: 0,
            deviceMinor: 0,
            xattrs: [],
            sparse: nil,
            headerOffset: entryStart)

        switch header.format {
        case .ustar:
            let prefix = header.string(at: 345, length: 155)
            if !prefix.isEmpty { entry.name = prefix + [UInt8(ascii: "/")] + entry.name }
        case .gnu:
            let atime = try header.number(at: 345, length: 12, field: "atime")
            let ctime = try header.number(at: 357, length: 12, field: "ctime")
            if atime != 0 { entry.accessTime = TarTime(seconds: atime) }
            if ctime != 0 { entry.changeTime = TarTime(seconds: ctime) }
        case .v7:
            break
        }
        if header.format != .v7 {
            entry.deviceMajor = UInt32(truncatingIfNeeded: try header.number(at: 329, length: 8, field: "devmajor"))
            entry.deviceMinor = UInt32(truncatingIfNeeded: try header.number(at: 337, length: 8, field: "devminor"))
        }
        // Pre-POSIX archives mark directories with a trailing slash on a regular entry.
        if flag == 0 && entry.name.last == UInt8(ascii: "/") { entry.type = .directory }

        if let longName = pendingLongName { entry.name = longName }
        if let longLink = pendingLongLink { entry.linkName = longLink }
        try PAXHeader.apply(pendingPAX, to: &entry, at: blockOffset)
        pendingLongName = nil
        pendingLongLink = nil
        pendingPAX.removeAll()

        if flag == UInt8(ascii: "S") {
            entry.type = .regular
            var regions: [TarSparse.Region] = []
            for index in 0..<4 {
                if let region = try Self.sparseRegion(raw, at: 386 + index * 24, blockOffset: blockOffset) {
                    regions.append(region)
                }
            }
            let realSize = try header.number(at: 483, length: 12, field: "realsize")
            if raw[482] != 0 {
                state = .sparseExtension(entry, regions: regions, realSize: realSize)
                return
            }
            entry.sparse = .map(regions: regions, realSize: realSize)
        }
        try begin(entry)
    }

    /// Hands a complete header to the consumer and moves on to its data.
    private func begin(_ entry: TarEntry) throws {
        try consumer.tarEntryBegan(entry)
        if entry.size == 0 {
            try consumer.tarEntryEnded()
            state = .header
        } else {
            currentEntry = entry
            state = .data(remaining: entry.size, padding: Self.padding(for: entry.size))
        }
    }

    private func handleMetadata(_ kind: MetadataKind) throws {
        switch kind {
        case .longName:
            pendingLongName = Array(metadata.prefix { $0 != 0 })
        case .longLink:
            pendingLongLink = Array(metadata.prefix { $0 != 0 })
        case .pax:
            pendingPAX.append(contentsOf: try PAXHeader.records(metadata, offset: metadataOffset))
        case .globalPAX:
            _ = try PAXHeader.records(metadata, offset: metadataOffset)
        }
    }

    // MARK: Helpers

    static func padding(for size: Int64) -> Int {
        let remainder = Int(size % Int64(blockSize))
        return remainder == 0 ? 0 : blockSize - remainder
    }

    static func entryType(_ flag: UInt8) -> TarEntryType {
        switch flag {
        case 0, UInt8(ascii: "0"), UInt8(ascii: "7"): return .regular
        case UInt8(ascii: "1"): return .hardLink
        case UInt8(ascii: "2"): return .symbolicLink
        case UInt8(ascii: "3"): return .characterDevice
        case UInt8(ascii: "4"): return .blockDevice
        case UInt8(ascii: "5"): return .directory
        case UInt8(ascii: "6"): return .fifo
        case UInt8(ascii: "S"): return .regular
        default: return .unsupported(flag)
        }
    }

    private static func sparseRegion(_ raw: UnsafeRawBufferPointer, at position: Int, blockOffset: Int64) throws
        -> TarSparse.Region?
    {
        let header = RawHeader(raw, offset: blockOffset)
        guard raw[position] != 0 else { return nil }
        return TarSparse.Region(
            offset: try header.number(at: position, length: 12, field: "sparse offset"),
            length: try header.number(at: position + 12, length: 12, field: "sparse length"))
    }
}
