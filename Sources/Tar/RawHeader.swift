/// Read access to the fields of one 512-byte tar header block
/// (layouts from POSIX.1-1988 ustar and GNU tar's `tar.h`).
struct RawHeader {
    enum Format { case v7, ustar, gnu }

    let raw: UnsafeRawBufferPointer
    let offset: Int64

    init(_ raw: UnsafeRawBufferPointer, offset: Int64) {
        self.raw = raw
        self.offset = offset
    }

    /// ustar (`"ustar\0" "00"`), GNU (`"ustar  \0"`) or pre-POSIX v7 (no magic).
    var format: Format {
        let magic = Array(raw[257..<265])
        if magic == Array("ustar  ".utf8) + [0] { return .gnu }
        if Array(magic[0..<6]) == Array("ustar".utf8) + [0] { return .ustar }
        return .v7
    }

    /// A NUL-terminated text field.
    func string(at position: Int, length: Int) -> [UInt8] {
        let field = raw[position..<(position + length)]
        let end = field.firstIndex(of: 0) ?? field.endIndex
        return Array(raw[position..<end])
    }

    /// A numeric field: octal text (space/NUL padded), or GNU base-256 when the high bit is set.
    func number(at position: Int, length: Int, field name: String) throws -> Int64 {
        let field = raw[position..<(position + length)]
        if let first = field.first, first & 0x80 != 0 {
            // Base-256: big-endian two's complement after the marker bit; 0xff starts a negative number.
            let negative = first == 0xff
            var value: Int64 = negative ? -1 : Int64(first & 0x7f)
            for byte in field.dropFirst() {
                guard value >> 55 == (negative ? -1 : 0) else {
                    throw TarError.badHeader(offset: offset, reason: "\(name) field overflows")
                }
                value = (value << 8) | Int64(byte)
            }
            return value
        }
        var value: Int64 = 0
        var seenDigit = false
        var ended = false
        for byte in field {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "7"):
                guard !ended else {
                    throw TarError.badHeader(offset: offset, reason: "\(name) field is not an octal number")
                }
                guard value >> 60 == 0 else {
                    throw TarError.badHeader(offset: offset, reason: "\(name) field overflows")
                }
                value = value * 8 + Int64(byte - UInt8(ascii: "0"))
                seenDigit = true
            case UInt8(ascii: " "), 0:
                if seenDigit { ended = true }
            default:
                throw TarError.badHeader(offset: offset, reason: "\(name) field is not an octal number")
            }
        }
        return value
    }

    /// Checks the header checksum, accepting the unsigned and the historic signed sum.
    func verifyChecksum() throws {
        let stored = try number(at: 148, length: 8, field: "checksum")
        var unsigned: Int64 = 0
        var signed: Int64 = 0
        for (index, byte) in raw.enumerated() {
            let value = (148..<156).contains(index) ? UInt8(ascii: " ") : byte
            unsigned += Int64(value)
            signed += Int64(Int8(bitPattern: value))
        }
        guard stored == unsigned || stored == signed else {
            throw TarError.badHeader(
                offset: offset, reason: "checksum mismatch (header says \(stored), block sums to \(unsigned))")
        }
    }
}
