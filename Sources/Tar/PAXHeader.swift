/// PAX extended headers (POSIX.1-2008 pax "Extended Header"): their records, and what they
/// set on the entry they precede (path, sizes, ids, times, xattrs, GNU sparse maps).
enum PAXHeader {
    /// Splits PAX data into its `"%d %s=%s\n"` records (POSIX.1-2008 pax "Extended Header").
    static func records(_ data: [UInt8], offset: Int64) throws -> [(key: String, value: [UInt8])] {
        var records: [(key: String, value: [UInt8])] = []
        var index = 0
        while index < data.count {
            // A NUL-padded tail is tolerated, as GNU tar writes none but some tools pad.
            if data[index] == 0 && data[index...].allSatisfy({ $0 == 0 }) { break }
            guard let space = data[index...].firstIndex(of: UInt8(ascii: " ")),
                let length = Int(String(decoding: data[index..<space], as: UTF8.self)),
                length > space - index + 1, index + length <= data.count
            else {
                throw TarError.malformedPAX(offset: offset, reason: "bad record length at byte \(index)")
            }
            let record = data[(space + 1)..<(index + length)]
            guard record.last == UInt8(ascii: "\n"), let equals = record.firstIndex(of: UInt8(ascii: "=")),
                equals > record.startIndex
            else {
                throw TarError.malformedPAX(offset: offset, reason: "record at byte \(index) is not key=value\\n")
            }
            let key = String(decoding: record[record.startIndex..<equals], as: UTF8.self)
            let value = Array(record[(equals + 1)..<(record.endIndex - 1)])
            records.append((key, value))
            index += length
        }
        return records
    }

    static func apply(_ pendingPAX: [(key: String, value: [UInt8])], to entry: inout TarEntry, at blockOffset: Int64) throws {
        var sparseOffsets: [Int64] = []
        var sparseLengths: [Int64] = []
        var sparseMap: [Int64]?
        var sparseRealSize: Int64?
        var sparseMajor: String?
        for (key, value) in pendingPAX {
            let text = String(decoding: value, as: UTF8.self)
            func integer() throws -> Int64 {
                guard let number = Int64(text) else {
                    throw TarError.malformedPAX(offset: blockOffset, reason: "\(key)=\(text.prefix(40)) is not a number")
                }
                return number
            }
            switch key {
            case "path": entry.name = value
            case "linkpath": entry.linkName = value
            case "size":
                entry.size = try integer()
                guard entry.size >= 0 else { throw TarError.malformedPAX(offset: blockOffset, reason: "negative size") }
            case "uid": entry.uid = try integer()
            case "gid": entry.gid = try integer()
            case "mtime": entry.modificationTime = try time(text, key: key, offset: blockOffset)
            case "atime": entry.accessTime = try time(text, key: key, offset: blockOffset)
            case "ctime": entry.changeTime = try time(text, key: key, offset: blockOffset)
            case "GNU.sparse.name": entry.name = value
            case "GNU.sparse.size", "GNU.sparse.realsize": sparseRealSize = try integer()
            case "GNU.sparse.major": sparseMajor = text
            case "GNU.sparse.offset": sparseOffsets.append(try integer())
            case "GNU.sparse.numbytes": sparseLengths.append(try integer())
            case "GNU.sparse.map":
                sparseMap = try text.split(separator: ",").map {
                    guard let number = Int64($0) else {
                        throw TarError.malformedPAX(offset: blockOffset, reason: "bad GNU.sparse.map")
                    }
                    return number
                }
            default:
                if key.hasPrefix("SCHILY.xattr.") {
                    entry.xattrs.append(TarXattr(name: String(key.dropFirst("SCHILY.xattr.".count)), value: value))
                }
            }
        }
        guard let realSize = sparseRealSize else { return }
        if sparseMajor == "1" {
            entry.sparse = .mapInData(realSize: realSize)
            return
        }
        let flat = sparseMap ?? zip(sparseOffsets, sparseLengths).flatMap { [$0, $1] }
        guard flat.count % 2 == 0 else {
            throw TarError.malformedPAX(offset: blockOffset, reason: "odd number of GNU sparse map values")
        }
        let regions = stride(from: 0, to: flat.count, by: 2).map {
            TarSparse.Region(offset: flat[$0], length: flat[$0 + 1])
        }
        entry.sparse = .map(regions: regions, realSize: realSize)
    }

    static func time(_ text: String, key: String, offset: Int64) throws -> TarTime {
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let seconds = Int64(parts[0]) else {
            throw TarError.malformedPAX(offset: offset, reason: "\(key)=\(text.prefix(40)) is not a time")
        }
        var nanoseconds: Int32 = 0
        if parts.count == 2 {
            let digits = parts[1].prefix(9)
            guard digits.allSatisfy(\.isASCII), let fraction = Int32(digits.padding(toLength: 9, withPad: "0")) else {
                throw TarError.malformedPAX(offset: offset, reason: "\(key)=\(text.prefix(40)) is not a time")
            }
            nanoseconds = text.hasPrefix("-") ? -fraction : fraction
        }
        return TarTime(seconds: seconds, nanoseconds: nanoseconds)
    }
}

extension String {
    fileprivate func padding(toLength length: Int, withPad pad: Character) -> String {
        count >= length ? String(prefix(length)) : self + String(repeating: pad, count: length - count)
    }
}

extension Substring {
    fileprivate func padding(toLength length: Int, withPad pad: Character) -> String {
        String(self).padding(toLength: length, withPad: pad)
    }
}
