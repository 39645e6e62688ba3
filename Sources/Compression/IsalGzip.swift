#if canImport(CISAL)
import CISAL
import Core

/// gzip decoding with ISA-L's igzip, twice as fast as zlib's inflate (docs/benchmarks.md). The
/// only file in the project that touches ISA-L. Same contract and verdicts as `GzipDecoder`
/// (zlib), which stays for builds without ISA-L and as the reference the tests and the fuzz
/// target compare with.
///
/// ISA-L inflates the deflate data only (`ISAL_DEFLATE`, raw); this decoder reads each member's
/// header and trailer itself, with zlib's rules, checks and messages, so both decoders judge the
/// framing alike: the magic (on its second byte), the method (8) and the reserved flags (on the
/// fourth), FEXTRA, FNAME, FCOMMENT and FHCRC, then the trailer's CRC-32 (on its fourth byte) and
/// ISIZE. Concatenated members are decoded in sequence (RFC 1952 §2.2, as Go's reader and zlib
/// here); anything after a member that is not another member is corrupt data.
///
/// Where ISA-L and zlib judge deflate data differently (docs/fuzzing.md): ISA-L accepts an
/// incomplete Huffman code (code lengths that leave codes unassigned; no encoder writes one) as
/// long as no unassigned code occurs, where zlib refuses the block header; and a stream that ends
/// where the bits ISA-L has already make the deflate data invalid (inside a block header or a
/// code) is corrupt for ISA-L, truncated for zlib. Every stream zlib accepts ISA-L accepts, with
/// the same bytes.
public final class IsalGzipDecoder: StreamDecoder {
    /// ISA-L's state (87 KB: its decoding tables and 64 KB of history), at a fixed address.
    private let state: UnsafeMutablePointer<inflate_state>
    private let output: UnsafeMutableRawBufferPointer
    private let verifyChecksum: Bool
    private var phase = Phase.header(.fixed)
    /// The bytes read so far of the fixed-size field being read (header, XLEN, header CRC, trailer).
    private var field: [UInt8] = []
    /// The member's FLG byte, once read.
    private var flags: UInt8 = 0
    /// Bytes of the FEXTRA field still to skip.
    private var extraLeft = 0
    /// CRC-32 of the member's header bytes so far (for FHCRC), when checksums are verified.
    private var headerCRC: UInt32 = 0
    /// The member's uncompressed size modulo 2^32 (its ISIZE).
    private var memberSize: UInt32 = 0
    /// At least one byte of input arrived.
    private var started = false
    /// The error already thrown: the decoder stays failed.
    private var failure: DecompressionError?

    private enum Phase: Equatable {
        case header(HeaderField)
        /// ISA-L inflates the member's deflate data.
        case deflate
        /// The 8-byte trailer: CRC-32 and ISIZE.
        case trailer
        /// The member ended; more input must be another member.
        case ended
    }

    /// The parts of a member header (RFC 1952 §2.3), in their order.
    private enum HeaderField: Int {
        /// ID1 ID2 CM FLG MTIME XFL OS: 10 bytes.
        case fixed
        case extraLength
        case extra
        case name
        case comment
        case headerCRC
    }

    // FLG bits (RFC 1952 §2.3.1).
    private static let flagHeaderCRC: UInt8 = 0x02
    private static let flagExtra: UInt8 = 0x04
    private static let flagName: UInt8 = 0x08
    private static let flagComment: UInt8 = 0x10
    private static let flagsReserved: UInt8 = 0xe0

    /// - Parameter verifyChecksum: false skips each member's CRC-32 and ISIZE checks (and the
    ///   header CRC), as zlib's `inflateValidate(…, 0)` does in `GzipDecoder`: ISA-L then computes
    ///   no CRC at all.
    public init(outputChunk: Int = 256 << 10, verifyChecksum: Bool = true) throws(DecompressionError) {
        self.verifyChecksum = verifyChecksum
        state = .allocate(capacity: 1)
        UnsafeMutableRawPointer(state)
            .initializeMemory(as: UInt8.self, repeating: 0, count: MemoryLayout<inflate_state>.size)
        output = .allocate(byteCount: max(1, outputChunk), alignment: 16)
        field.reserveCapacity(10)
        isal_inflate_init(state)
        startMember()
    }

    deinit {
        state.deallocate()
        output.deallocate()
    }

    public func feed(_ input: UnsafeRawBufferPointer, into sink: ByteSink) throws {
        if let failure { throw failure }
        guard let base = input.baseAddress, !input.isEmpty else { return }
        started = true
        var offset = 0
        do {
            while offset < input.count {
                let rest = UnsafeRawBufferPointer(start: base + offset, count: input.count - offset)
                switch phase {
                case .header(let part): offset += try readHeader(part, rest)
                case .deflate: offset += try inflate(rest, into: sink)
                case .trailer:
                    try readTrailerByte(rest[0])
                    offset += 1
                case .ended: startMember()
                }
            }
        } catch let error as DecompressionError {
            failure = error
            throw error
        }
    }

    public func finish() throws(DecompressionError) {
        if let failure { throw failure }
        guard started, phase == .ended else { throw .truncated(.gzip) }
    }

    // MARK: - Members

    private func startMember() {
        phase = .header(.fixed)
        field.removeAll(keepingCapacity: true)
        flags = 0
        extraLeft = 0
        headerCRC = 0
        memberSize = 0
        isal_inflate_reset(state)
        // Raw deflate: the gzip framing is read here. ISA-L computes the CRC-32 of the output
        // only when it is checked.
        state.pointee.crc_flag = UInt32(verifyChecksum ? ISAL_GZIP_NO_HDR : ISAL_DEFLATE)
    }

    /// Reads (part of) the header field `part` from `input`; returns the bytes used.
    private func readHeader(_ part: HeaderField, _ input: UnsafeRawBufferPointer) throws(DecompressionError) -> Int {
        var used = 1
        switch part {
        case .fixed, .extraLength, .headerCRC:
            // Fixed-size fields, a byte at a time: zlib judges the magic on its second byte and
            // the method and flags on the fourth, so a stream ending before those is truncated.
            field.append(input[0])
        case .extra:
            used = min(extraLeft, input.count)
            extraLeft -= used
        case .name, .comment:
            // Zero-terminated.
            used = (input.firstIndex(of: 0) ?? input.count - 1) + 1
        }
        if verifyChecksum && part != .headerCRC {
            headerCRC = crc32_gzip_refl(headerCRC, input.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(used))
        }
        switch part {
        case .fixed:
            if field.count == 2 && (field[0] != 0x1f || field[1] != 0x8b) {
                throw .corrupt(.gzip, message: "incorrect header check")
            }
            if field.count == 4 {
                guard field[2] == 8 else { throw .corrupt(.gzip, message: "unknown compression method") }
                guard field[3] & Self.flagsReserved == 0 else {
                    throw .corrupt(.gzip, message: "unknown header flags set")
                }
                flags = field[3]
            }
            if field.count == 10 { nextHeaderField(after: .fixed) }
        case .extraLength:
            if field.count == 2 {
                extraLeft = Int(field[0]) | Int(field[1]) << 8
                nextHeaderField(after: .extraLength)
            }
        case .extra:
            if extraLeft == 0 { nextHeaderField(after: .extra) }
        case .name, .comment:
            if input[used - 1] == 0 { nextHeaderField(after: part) }
        case .headerCRC:
            if field.count == 2 {
                let stated = UInt16(field[0]) | UInt16(field[1]) << 8
                if verifyChecksum && stated != UInt16(truncatingIfNeeded: headerCRC) {
                    throw .corrupt(.gzip, message: "header crc mismatch")
                }
                nextHeaderField(after: .headerCRC)
            }
        }
        return used
    }

    /// Moves on to the next field this member's header has, or to its deflate data.
    private func nextHeaderField(after part: HeaderField) {
        field.removeAll(keepingCapacity: true)
        var next = HeaderField(rawValue: part.rawValue + 1)
        while let candidate = next, !isPresent(candidate) { next = HeaderField(rawValue: candidate.rawValue + 1) }
        phase = next.map { .header($0) } ?? .deflate
    }

    private func isPresent(_ part: HeaderField) -> Bool {
        switch part {
        case .fixed: return true
        case .extraLength: return flags & Self.flagExtra != 0
        case .extra: return extraLeft > 0
        case .name: return flags & Self.flagName != 0
        case .comment: return flags & Self.flagComment != 0
        case .headerCRC: return flags & Self.flagHeaderCRC != 0
        }
    }

    // MARK: - Deflate data

    /// Inflates from `input` until it is used up or the deflate data ends; returns the bytes used.
    private func inflate(_ input: UnsafeRawBufferPointer, into sink: ByteSink) throws -> Int {
        guard let inBase = input.baseAddress, let outBase = output.baseAddress else { return 0 }
        let available = min(input.count, Int(UInt32.max))
        state.pointee.next_in = UnsafeMutablePointer(mutating: inBase.assumingMemoryBound(to: UInt8.self))
        state.pointee.avail_in = UInt32(available)
        while true {
            state.pointee.next_out = outBase.assumingMemoryBound(to: UInt8.self)
            state.pointee.avail_out = UInt32(output.count)
            let code = isal_inflate(state)
            let produced = output.count - Int(state.pointee.avail_out)
            if produced > 0 {
                memberSize &+= UInt32(truncatingIfNeeded: produced)
                try sink(UnsafeRawBufferPointer(rebasing: output[0..<produced]))
            }
            if code < 0 { throw DecompressionError.corrupt(.gzip, message: Self.message(code)) }
            let used = available - Int(state.pointee.avail_in)
            if state.pointee.block_state == ISAL_BLOCK_FINISH {
                try takeTrailerBytesBuffered()
                return used
            }
            // More output may be waiting only when this call filled the buffer.
            if produced < output.count {
                guard state.pointee.avail_in == 0 else {
                    // ISA-L returns with input left only when its output is full or it failed.
                    throw DecompressionError.corrupt(.gzip, message: "ISA-L stopped with input left (code \(code))")
                }
                return used
            }
        }
    }

    /// ISA-L reads ahead up to 8 bytes into its bit buffer; once the deflate data ended, the whole
    /// bytes there (after the last byte's padding bits) are the first bytes of the trailer.
    private func takeTrailerBytesBuffered() throws(DecompressionError) {
        phase = .trailer
        let bits = Int(state.pointee.read_in_length)
        var buffered = bits > 0 ? state.pointee.read_in >> UInt64(bits % 8) : 0
        state.pointee.read_in = 0
        state.pointee.read_in_length = 0
        for _ in 0..<max(0, bits / 8) {
            try readTrailerByte(UInt8(truncatingIfNeeded: buffered))
            buffered >>= 8
        }
    }

    /// ISA-L's error codes, in zlib's manner of message.
    private static func message(_ code: Int32) -> String {
        switch code {
        case ISAL_INVALID_BLOCK: return "invalid block type, stored block length or Huffman code lengths (ISA-L)"
        case ISAL_INVALID_SYMBOL: return "invalid literal/length or distance code (ISA-L)"
        case ISAL_INVALID_LOOKBACK: return "invalid distance too far back (ISA-L)"
        default: return "ISA-L error \(code)"
        }
    }

    // MARK: - Trailer

    /// One byte of the trailer: CRC-32 (checked on its fourth byte, as zlib does), then ISIZE.
    private func readTrailerByte(_ byte: UInt8) throws(DecompressionError) {
        field.append(byte)
        if field.count == 4 && verifyChecksum && littleEndian32(at: 0) != state.pointee.crc {
            throw .corrupt(.gzip, message: "incorrect data check")
        }
        if field.count == 8 {
            if verifyChecksum && littleEndian32(at: 4) != memberSize {
                throw .corrupt(.gzip, message: "incorrect length check")
            }
            phase = .ended
        }
    }

    private func littleEndian32(at index: Int) -> UInt32 {
        (0..<4).reduce(0) { $0 | UInt32(field[index + $1]) << (8 * $1) }
    }
}
#endif
