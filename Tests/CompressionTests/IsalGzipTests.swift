#if canImport(CISAL)
import Foundation
import Tar
import Testing
import TestSupport

@testable import Compression

/// What a decoder made of a whole stream: its output, or the error that stopped it.
enum Outcome: Equatable, CustomStringConvertible {
    case decoded([UInt8])
    case failed(DecompressionError)

    /// The verdict without the library's message: the output, "corrupt" or "truncated".
    var verdict: String {
        switch self {
        case .decoded(let bytes): return "decoded \(bytes.count) bytes"
        case .failed(.corrupt): return "corrupt"
        case .failed(.truncated): return "truncated"
        case .failed(.setup): return "setup"
        }
    }

    var description: String {
        if case .failed(let error) = self { return "\(error)" }
        return verdict
    }

    /// Same output, or the same kind of error (the messages of deflate errors are each library's).
    func agrees(with other: Outcome) -> Bool {
        switch (self, other) {
        case (.decoded(let mine), .decoded(let theirs)): return mine == theirs
        default: return verdict == other.verdict
        }
    }
}

/// A reproducible generator for chunk sizes (SplitMix64).
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

enum Inflater: String, CaseIterable, CustomStringConvertible {
    case zlib, isal
    var description: String { rawValue }

    func make(verify: Bool = true, outputChunk: Int = 256 << 10) throws(DecompressionError) -> any StreamDecoder {
        switch self {
        case .zlib: return try GzipDecoder(outputChunk: outputChunk, verifyChecksum: verify)
        case .isal: return try IsalGzipDecoder(outputChunk: outputChunk, verifyChecksum: verify)
        }
    }
}

/// Decodes `input` with a decoder from `inflater`, fed in chunks whose sizes `nextChunk` chooses
/// (the whole input when nil).
func outcome(
    _ inflater: Inflater, _ input: [UInt8], verify: Bool = true, outputChunk: Int = 256 << 10,
    nextChunk: (() -> Int)? = nil
) -> Outcome {
    var output: [UInt8] = []
    do {
        let decoder = try inflater.make(verify: verify, outputChunk: outputChunk)
        try input.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let end = min(raw.count, offset + max(1, nextChunk?() ?? raw.count))
                try decoder.feed(UnsafeRawBufferPointer(rebasing: raw[offset..<end])) { output += $0 }
                offset = end
            }
        }
        try decoder.finish()
        return .decoded(output)
    } catch let error as DecompressionError {
        return .failed(error)
    } catch {
        Issue.record("a decoder threw \(error)")
        return .failed(.setup(.gzip, code: -1))
    }
}

/// zlib's messages for an incomplete (or over-subscribed) Huffman code.
let incompleteCodeMessages: Set = ["invalid code lengths set", "invalid literal/lengths set", "invalid distances set"]

/// zlib's messages for invalid deflate data (block headers and codes).
let deflateMessages: Set = incompleteCodeMessages.union([
    "invalid block type", "invalid stored block lengths", "too many length or distance symbols",
    "invalid bit length repeat", "invalid code -- missing end-of-block", "invalid literal/length code",
    "invalid distance code", "invalid distance too far back",
])

/// zlib's `corrupt` error on `input` (unverified), and how many bytes it decoded before it.
func zlibFailure(_ input: [UInt8]) -> (message: String, output: Int)? {
    var output = 0
    do {
        let decoder = try GzipDecoder(verifyChecksum: false)
        try input.withUnsafeBytes { try decoder.feed($0) { output += $0.count } }
        try decoder.finish()
    } catch DecompressionError.corrupt(_, let message) {
        return (message, output)
    } catch {}
    return nil
}

/// Where ISA-L may judge differently from zlib (IsalGzipDecoder, docs/fuzzing.md; the fuzz
/// target allows the same): 1. zlib refuses a block header whose Huffman code is incomplete,
/// ISA-L decodes it unless an unused code occurs; 2. a stream ending where the bits ISA-L has
/// already make the deflate data invalid is corrupt for ISA-L, truncated for zlib, which refuses
/// it too, after the same output, whatever bytes follow.
func isDocumentedDifference(_ input: [UInt8], isal: Outcome, zlib: Outcome) -> Bool {
    if case .failed(.corrupt(_, let message)) = zlib, incompleteCodeMessages.contains(message) { return true }
    guard case .failed(.corrupt(_, let message)) = isal, message.hasSuffix("(ISA-L)"), zlib == .failed(.truncated(.gzip)) else {
        return false
    }
    let continued = [UInt8(0x00), 0xff, 0x5a].map { zlibFailure(input + [UInt8](repeating: $0, count: 4096)) }
    guard let first = continued[0] else { return false }
    return continued.allSatisfy { $0.map { deflateMessages.contains($0.message) && $0.output == first.output } ?? false }
}

/// Expects ISA-L to decode `input` as zlib does: whole, in random chunks, and without checksums.
func expectSameAsZlib(_ input: [UInt8], label: String, seed: UInt64 = 1, sourceLocation: SourceLocation = #_sourceLocation) {
    for verify in [true, false] {
        let reference = outcome(.zlib, input, verify: verify)
        let whole = outcome(.isal, input, verify: verify)
        var random = SeededGenerator(state: seed &+ (verify ? 0 : 1))
        let limit = [16, 4096, 65536][Int(random.next() % 3)]
        let chunked = outcome(.isal, input, verify: verify, outputChunk: [1 << 10, 4096, 256 << 10][Int(random.next() % 3)]) {
            Int.random(in: 1...limit, using: &random)
        }
        #expect(
            chunked.agrees(with: whole), "\(label) verify=\(verify), random chunks up to \(limit): \(chunked), whole: \(whole)",
            sourceLocation: sourceLocation)
        if isDocumentedDifference(input, isal: whole, zlib: reference) { continue }
        #expect(
            whole.agrees(with: reference), "\(label) verify=\(verify): ISA-L \(whole), zlib \(reference)",
            sourceLocation: sourceLocation)
    }
}

/// Every gzip stream in a file: the file itself, or the entries of a tar archive (recursively)
/// that start with gzip's magic.
final class GzipBlobs: TarConsumer {
    var found: [(name: String, bytes: [UInt8])] = []
    private var name = ""
    private var data: [UInt8] = []
    private let prefix: String

    init(prefix: String) { self.prefix = prefix }

    static func collect(_ bytes: [UInt8], name: String, into blobs: inout [(name: String, bytes: [UInt8])]) {
        if bytes.count >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b {
            blobs.append((name, bytes))
            return
        }
        // A tar archive? (Anything else, or a broken tar, yields what was found before it broke.)
        let consumer = GzipBlobs(prefix: name)
        let parser = TarParser(consumer: consumer)
        try? bytes.withUnsafeBytes { try parser.feed($0) }
        blobs += consumer.found
    }

    func tarEntryBegan(_ entry: TarEntry) throws {
        name = prefix + ":" + String(decoding: entry.name, as: UTF8.self)
        data = []
    }
    func tarEntryData(_ bytes: UnsafeRawBufferPointer) throws { data += bytes }
    func tarEntryEnded() throws {
        if data.count >= 2 { GzipBlobs.collect(data, name: name, into: &found) }
    }
}

/// A gzip member written by hand: header fields as `flags` asks, a stored deflate block of
/// `content`, and the trailer (CRC-32 and ISIZE), each overridable to make it wrong.
func handmadeMember(
    _ content: [UInt8], flags: UInt8 = 0, extra: [UInt8] = [1, 2, 3], name: String = "name.txt",
    comment: String = "a comment", headerCRC: UInt16? = nil, crc: UInt32? = nil, size: UInt32? = nil
) -> [UInt8] {
    var header: [UInt8] = [0x1f, 0x8b, 8, flags, 0x78, 0x56, 0x34, 0x12, 0, 3]
    if flags & 0x04 != 0 { header += [UInt8(extra.count & 0xff), UInt8(extra.count >> 8)] + extra }
    if flags & 0x08 != 0 { header += Array(name.utf8) + [0] }
    if flags & 0x10 != 0 { header += Array(comment.utf8) + [0] }
    if flags & 0x02 != 0 {
        let actual = UInt16(truncatingIfNeeded: crc32(header))
        let stated = headerCRC ?? actual
        header += [UInt8(stated & 0xff), UInt8(stated >> 8)]
    }
    let stored: [UInt8] = [0x01, UInt8(content.count & 0xff), UInt8(content.count >> 8 & 0xff)]
        + [UInt8(~content.count & 0xff), UInt8(~content.count >> 8 & 0xff)] + content
    return header + stored + littleEndian(crc ?? crc32(content)) + littleEndian(size ?? UInt32(content.count))
}

func littleEndian(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }

/// CRC-32 (gzip's), bit by bit: independent of both libraries.
func crc32(_ bytes: [UInt8]) -> UInt32 {
    var crc: UInt32 = 0xffff_ffff
    for byte in bytes {
        crc ^= UInt32(byte)
        for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xedb8_8320 : crc >> 1 }
    }
    return ~crc
}

/// Deflate bits, least significant first as RFC 1951 packs them.
struct BitWriter {
    var bytes: [UInt8] = []
    var count = 0

    /// `value`'s low `width` bits, least significant first (header fields, extra bits).
    mutating func write(_ value: Int, _ width: Int) {
        for bit in 0..<width {
            if count % 8 == 0 { bytes.append(0) }
            bytes[bytes.count - 1] |= UInt8((value >> bit) & 1) << (count % 8)
            count += 1
        }
    }

    /// A Huffman code of `width` bits, most significant first.
    mutating func code(_ value: Int, _ width: Int) {
        for bit in (0..<width).reversed() { write((value >> bit) & 1, 1) }
    }
}

/// A final dynamic block whose literal/length code is incomplete: 'a' has the 1-bit code 0, the
/// end of block the 2-bit code 10, and 11 is unused (zlib refuses such a code, ISA-L accepts it).
/// `symbols` are the codes to write after the header: "a" or "end", or "unused".
func incompleteCodeBlock(_ symbols: [String]) -> [UInt8] {
    var bits = BitWriter()
    bits.write(1, 1)  // BFINAL
    bits.write(2, 2)  // dynamic
    bits.write(0, 5)  // HLIT: 257 literal/length codes
    bits.write(0, 5)  // HDIST: 1 distance code
    bits.write(14, 4)  // HCLEN: 18 code length codes
    // Code length code: 0, 1, 2 and 18 get 2 bits each (00, 01, 10, 11), in RFC 1951's order
    // 16 17 18 0 8 7 9 6 10 5 11 4 12 3 13 2 14 1.
    for length in [0, 0, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 2] { bits.write(length, 3) }
    bits.code(3, 2)
    bits.write(97 - 11, 7)  // 18: literals 0-96 unused
    bits.code(1, 2)  // 'a' (97): length 1
    bits.code(3, 2)
    bits.write(138 - 11, 7)  // 18: 98-235 unused
    bits.code(3, 2)
    bits.write(20 - 11, 7)  // 18: 236-255 unused
    bits.code(2, 2)  // end of block (256): length 2
    bits.code(0, 2)  // the one distance code: unused
    for symbol in symbols {
        switch symbol {
        case "a": bits.code(0, 1)
        case "end": bits.code(2, 2)
        default: bits.code(3, 2)
        }
    }
    return bits.bytes
}

/// A member around raw deflate data whose output is `content`.
func member(deflate: [UInt8], content: [UInt8]) -> [UInt8] {
    [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3] + deflate + littleEndian(crc32(content)) + littleEndian(UInt32(content.count))
}

@Suite struct IsalGzipTests {
    @Test func gzipDecodesWithISAL() throws {
        #expect(try Compression.gzip.makeDecoder() is IsalGzipDecoder)
        #expect(try Compression.gzip.makeDecoder(verifyChecksum: false) is IsalGzipDecoder)
    }

    /// Every gzip blob of the generated fixtures (real producers' and hand-made archives) and of
    /// the fuzz corpus: ISA-L gives zlib's bytes, or zlib's kind of error.
    @Test func fixtureCorpusDecodesAsWithZlib() throws {
        let root = packageRoot
        var files = try FileManager.default.subpathsOfDirectory(atPath: Fixtures.directory.path)
            .map { Fixtures.directory.appendingPathComponent($0).path }
        #expect(files.contains { $0.hasSuffix("real/oci-gzip.tar") }, "run bash Fixtures/generate.sh")
        for corpus in ["gzip", "verifier"] {
            let directory = root.appendingPathComponent("Fuzz/corpus/\(corpus)")
            files += try FileManager.default.contentsOfDirectory(atPath: directory.path)
                .map { directory.appendingPathComponent($0).path }
        }
        var blobs: [(name: String, bytes: [UInt8])] = []
        for file in files.sorted() {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: file, isDirectory: &isDirectory), !isDirectory.boolValue else {
                continue
            }
            GzipBlobs.collect(try readBytes(file), name: String(file.dropFirst(root.path.count + 1)), into: &blobs)
        }
        #expect(blobs.count > 100)
        var decodedBytes = 0
        for (index, blob) in blobs.enumerated() {
            expectSameAsZlib(blob.bytes, label: blob.name, seed: UInt64(index))
            if case .decoded(let bytes) = outcome(.zlib, blob.bytes) { decodedBytes += bytes.count }
        }
        // The real producers' layers hold a real busybox: megabytes, not only tiny seeds.
        #expect(decodedBytes > 4 << 20)
    }

    @Test(arguments: [1, 7, 4096, 1 << 20])
    func largeStreamFromTheRealToolIsByteExact(chunk: Int) throws {
        let temp = try TemporaryDirectory()
        // Byte by byte, a smaller stream: a call into ISA-L per byte.
        let data = sampleData(chunk == 1 ? 300_000 : 3 << 20, seed: 5)
        let compressed = try compress("gzip", data, in: temp)
        for outputChunk in [1, 17, 4096, 256 << 10] where outputChunk > 16 || chunk >= 4096 {
            let isal = outcome(.isal, compressed, outputChunk: outputChunk) { chunk }
            #expect(isal == .decoded(data), "input chunks \(chunk), output chunks \(outputChunk)")
        }
    }

    @Test func membersWithEveryHeaderFieldDecodeInSequence() throws {
        let temp = try TemporaryDirectory()
        let text = Array("hello, members\n".utf8)
        var members: [[UInt8]] = [
            try compress("gzip", sampleData(70_000, seed: 3), in: temp, name: "a"),  // FNAME, from the tool
            handmadeMember([], flags: 0),  // an empty member
        ]
        for flags: UInt8 in [0x01, 0x02, 0x04, 0x08, 0x10, 0x1e, 0x1f] {
            members.append(handmadeMember(text, flags: flags))
        }
        members.append(handmadeMember(text, flags: 0x04, extra: []))  // FEXTRA of length 0
        members.append(handmadeMember(text, flags: 0x04, extra: sampleData(65_000)))  // longer than the chunks
        members.append(handmadeMember(text, flags: 0x18, name: String(repeating: "n", count: 5000), comment: ""))
        let stream = Array(members.joined())
        let expected = sampleData(70_000, seed: 3) + Array(Array(repeating: text, count: 10).joined())
        for inflater in Inflater.allCases {
            #expect(outcome(inflater, stream) == .decoded(expected), "\(inflater)")
        }
        for chunk in [1, 2, 3, 11, 4096] {
            #expect(outcome(.isal, stream, outputChunk: 4096) { chunk } == .decoded(expected), "chunks of \(chunk)")
        }
        for (index, member) in members.enumerated() { expectSameAsZlib(member, label: "member \(index)", seed: UInt64(index)) }
    }

    /// Every prefix of a stream of two members with every header field: truncated (or, at the
    /// end of the first member, decoded), as zlib says, however it is fed.
    @Test func everyTruncationIsReportedAsZlibReportsIt() throws {
        let temp = try TemporaryDirectory()
        let first = handmadeMember(Array("first".utf8), flags: 0x1e)
        let stream = first + (try compress("gzip", sampleData(3000), in: temp))
        for length in 0..<stream.count {
            let prefix = Array(stream.prefix(length))
            let zlib = outcome(.zlib, prefix)
            #expect(outcome(.isal, prefix) == zlib, "prefix of \(length) bytes")
            #expect(outcome(.isal, prefix) { 1 }.agrees(with: zlib), "prefix of \(length) bytes, byte by byte")
            if length != first.count { #expect(zlib == .failed(.truncated(.gzip)), "prefix of \(length) bytes") }
        }
        #expect(outcome(.isal, first) == .decoded(Array("first".utf8)))
    }

    /// Every byte of a small two-member stream changed, one at a time: ISA-L's verdict and output
    /// are zlib's, with and without checksums.
    @Test func everyCorruptByteIsJudgedAsZlibJudgesIt() throws {
        let temp = try TemporaryDirectory()
        let stream = handmadeMember(Array("first".utf8), flags: 0x1e) + (try compress("gzip", sampleData(2000), in: temp))
        for index in stream.indices {
            for change: UInt8 in [0x01, 0x80, 0xff] {
                var corrupted = stream
                corrupted[index] ^= change
                expectSameAsZlib(corrupted, label: "byte \(index) ^ \(change)", seed: UInt64(index))
            }
        }
    }

    @Test func trailerChecksAreZlibs() throws {
        let content = Array("checked content".utf8)
        let cases: [(String, [UInt8], String)] = [
            ("CRC-32", handmadeMember(content, crc: crc32(content) ^ 1), "incorrect data check"),
            ("ISIZE", handmadeMember(content, size: UInt32(content.count + 1)), "incorrect length check"),
            ("header CRC", handmadeMember(content, flags: 0x0a, headerCRC: 0x1234), "header crc mismatch"),
        ]
        for (label, member, message) in cases {
            for inflater in Inflater.allCases {
                #expect(outcome(inflater, member) == .failed(.corrupt(.gzip, message: message)), "\(label), \(inflater)")
                // Without checksums (the import's applier), the same member decodes.
                #expect(outcome(inflater, member, verify: false) == .decoded(content), "\(label), \(inflater), unverified")
            }
        }
    }

    @Test func headerErrorsAreZlibs() throws {
        let member = handmadeMember(Array("x".utf8))
        var method = member
        method[2] = 7
        var reserved = member
        reserved[3] = 0x20
        var magic = member
        magic[1] = 0x8c
        for (bytes, message) in [
            (method, "unknown compression method"), (reserved, "unknown header flags set"), (magic, "incorrect header check"),
        ] {
            for inflater in Inflater.allCases {
                #expect(outcome(inflater, bytes) == .failed(.corrupt(.gzip, message: message)), "\(message), \(inflater)")
            }
        }
    }

    /// After a member: another member, or nothing. zlib judges the next header on its second byte,
    /// so a single byte more is a truncated member, two bytes of garbage are corrupt.
    @Test(arguments: [
        [], [0x1f], [0x00], [0x1f, 0x8b], [0x00, 0x00], Array("garbage".utf8), [UInt8](repeating: 0, count: 512),
    ])
    func whatFollowsAMemberIsJudgedAsZlibJudgesIt(trailing: [UInt8]) throws {
        let member = handmadeMember(Array("data".utf8), flags: 0x08)
        let expected: Outcome
        switch trailing.count {
        case 0: expected = .decoded(Array("data".utf8))
        case 1: expected = .failed(.truncated(.gzip))
        default:
            expected = trailing == [0x1f, 0x8b] ? .failed(.truncated(.gzip)) : .failed(.corrupt(.gzip, message: "incorrect header check"))
        }
        for inflater in Inflater.allCases {
            #expect(outcome(inflater, member + trailing) == expected, "\(inflater)")
            #expect(outcome(inflater, member + trailing) { 1 } == expected, "\(inflater), byte by byte")
        }
    }

    /// The first documented difference: an incomplete literal/length code. zlib refuses the block
    /// header; ISA-L decodes the block (its bytes are well defined: every code it meets is
    /// assigned), unless the unused code occurs.
    @Test func incompleteHuffmanCodesAreDecodedByISALOnly() throws {
        let aaa = Array("aaa".utf8)
        let good = member(deflate: incompleteCodeBlock(["a", "a", "a", "end"]), content: aaa)
        #expect(outcome(.zlib, good) == .failed(.corrupt(.gzip, message: "invalid literal/lengths set")))
        for chunk in [1, 3, 1 << 16] {
            #expect(outcome(.isal, good) { chunk } == .decoded(aaa))
        }
        let unused = member(deflate: incompleteCodeBlock(["a", "unused", "end"]), content: aaa)
        #expect(outcome(.isal, unused) == .failed(.corrupt(.gzip, message: "invalid literal/length or distance code (ISA-L)")))
        #expect(isDocumentedDifference(good, isal: outcome(.isal, good), zlib: outcome(.zlib, good)))
    }

    /// The second documented difference, found by fuzzing (Fuzz/corpus/gzip/crash-truncated-*): a
    /// stream ending where the bits ISA-L has already make it invalid (a code-length code without
    /// codes; a fixed block's code 286 or 287) is corrupt for ISA-L, truncated for zlib, which
    /// refuses the same block once more bytes follow.
    @Test(arguments: ["crash-truncated-in-empty-code-length-code", "crash-truncated-in-invalid-fixed-code"])
    func streamsEndingInInvalidDeflateDataAreCorruptForISALTruncatedForZlib(name: String) throws {
        let input = try readBytes(packageRoot.appendingPathComponent("Fuzz/corpus/gzip/\(name)").path)
        let isal = outcome(.isal, input)
        guard case .failed(.corrupt(.gzip, let message)) = isal else {
            Issue.record("ISA-L: \(isal)")
            return
        }
        #expect(message.hasSuffix("(ISA-L)"))
        #expect(outcome(.zlib, input) == .failed(.truncated(.gzip)))
        #expect(isDocumentedDifference(input, isal: isal, zlib: outcome(.zlib, input)))
        for filler: UInt8 in [0, 0xff] {
            let continued = input + [UInt8](repeating: filler, count: 100)
            #expect(outcome(.zlib, continued).verdict == "corrupt")
            #expect(outcome(.isal, continued) == isal)
        }
    }

    @Test func theDecoderStaysFailed() throws {
        let decoder = try IsalGzipDecoder()
        let garbage = Array("not gzip".utf8)
        let refused = DecompressionError.corrupt(.gzip, message: "incorrect header check")
        garbage.withUnsafeBytes { raw in
            #expect(throws: refused) { try decoder.feed(raw) { _ in } }
            #expect(throws: refused) { try decoder.feed(raw) { _ in } }
        }
        #expect(throws: refused) { try decoder.finish() }
    }
}
#endif
