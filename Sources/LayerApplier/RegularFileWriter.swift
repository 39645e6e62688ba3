import POSIX
import Tar

/// Writes one regular file's data as it streams in, expanding sparse maps, then sets its
/// metadata through the descriptor (owner, xattrs, mode, times: containerd's order).
final class RegularFileWriter {
    let entry: TarEntry
    private let descriptor: FileDescriptor
    /// Where the next data byte goes in the file.
    private var position: Int64 = 0
    /// Sparse files: the regions still to fill, and bytes left in the current one.
    private var regions: ArraySlice<TarSparse.Region> = []
    private var regionLeft: Int64 = 0
    private var realSize: Int64?
    /// PAX 1.0 sparse files: the map text at the start of the data, until it is parsed.
    private var mapText: [UInt8]?
    private var mapBytesToSkip = 0

    init(descriptor: FileDescriptor, entry: TarEntry) {
        self.descriptor = descriptor
        self.entry = entry
        switch entry.sparse {
        case .map(let map, let size):
            realSize = size
            startRegions(map)
        case .mapInData(let size):
            realSize = size
            mapText = []
        case nil:
            break
        }
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        var rest = bytes[...]
        if mapText != nil {
            rest = try consumeMap(rest)
        }
        if mapBytesToSkip > 0 {
            let skip = min(mapBytesToSkip, rest.count)
            mapBytesToSkip -= skip
            rest = rest.dropFirst(skip)
        }
        while !rest.isEmpty {
            var take = rest.count
            if realSize != nil {
                // Move to the next region when the current one is full.
                while regionLeft == 0, let next = regions.popFirst() {
                    position = next.offset
                    regionLeft = next.length
                }
                guard regionLeft > 0 else {
                    throw ApplyError(path: entry.path, reason: "sparse file has more data than its map describes")
                }
                take = Int(min(Int64(take), regionLeft))
                regionLeft -= Int64(take)
            }
            try descriptor.writeAll(UnsafeRawBufferPointer(rebasing: rest.prefix(take)), at: position)
            position += Int64(take)
            rest = rest.dropFirst(take)
        }
    }

    func finish() throws {
        if let realSize {
            try descriptor.truncate(to: realSize)
        }
        try descriptor.changeOwner(
            userID: UInt32(truncatingIfNeeded: entry.uid), groupID: UInt32(truncatingIfNeeded: entry.gid))
        for xattr in entry.xattrs {
            try LayerApplier.toleratingXattrFailure(entry) { () throws(SystemCallError) in
                try descriptor.setExtendedAttribute(xattr.name, xattr.value)
            }
        }
        try descriptor.changeMode(entry.mode & 0o7777)
        let times = LayerApplier.times(entry)
        try descriptor.setTimes(access: times.access, modification: times.modification)
    }

    private func startRegions(_ map: [TarSparse.Region]) {
        regions = map[...]
        regionLeft = 0
    }

    /// Collects the PAX 1.0 map ("count\n" then "offset\nlength\n" pairs, padded to a 512-byte
    /// block) from the head of the data; returns what follows it.
    private func consumeMap(_ bytes: Slice<UnsafeRawBufferPointer>) throws -> Slice<UnsafeRawBufferPointer> {
        guard var text = mapText else { return bytes }
        var rest = bytes
        while !rest.isEmpty {
            let byte = rest[rest.startIndex]
            rest = rest.dropFirst()
            text.append(byte)
            guard byte == UInt8(ascii: "\n") else {
                if text.count > 1 << 20 { throw ApplyError(path: entry.path, reason: "sparse map is too large") }
                continue
            }
            let numbers = text.split(separator: UInt8(ascii: "\n")).map { Int64(String(decoding: $0, as: UTF8.self)) }
            guard numbers.allSatisfy({ $0 != nil }), let count = numbers.first ?? nil else {
                throw ApplyError(path: entry.path, reason: "malformed sparse map")
            }
            if numbers.count == 1 + 2 * Int(count) {
                let values = numbers.compactMap { $0 }
                startRegions(stride(from: 1, to: values.count, by: 2).map {
                    TarSparse.Region(offset: values[$0], length: values[$0 + 1])
                })
                let padding = text.count % TarParser.blockSize
                mapBytesToSkip = padding == 0 ? 0 : TarParser.blockSize - padding
                mapText = nil
                return rest
            }
        }
        mapText = text
        return rest
    }
}
