// libFuzzer target: the gzip StreamDecoders, ISA-L's (IsalGzipDecoder, what makeDecoder returns)
// against zlib's (GzipDecoder), on the input as a gzip stream and as the deflate data of a member.
// Checks: no crash; each decoder fed the input whole and in three pieces, with different output
// chunks, gives the same output or the same kind of error (DecoderCheck); ISA-L gives zlib's
// output or zlib's kind of error, but for the two documented differences (`checkAgreement`,
// docs/fuzzing.md); a stream that decodes with its CRC-32 checked decodes the same without the
// check (the import's `LayerApplication(verifyingChecksum: false)`). The second form wraps the
// input in a gzip header and an 8-byte trailer and decodes it without checksums, so that mutations
// spend themselves on deflate data rather than on headers and CRCs.
import Compression
import DecoderCheck
import FuzzSupport

@main
enum Main {
    static func main() { runLibFuzzer(fuzz) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    let zlib = checkChunkingIndependence(input) { chunk throws(DecompressionError) in try GzipDecoder(outputChunk: chunk) }
    let isal = checkChunkingIndependence(input) { chunk throws(DecompressionError) in try IsalGzipDecoder(outputChunk: chunk) }
    checkAgreement(isal: isal, zlib: zlib, input, verify: true)
    if zlib.hasSuffix(" ok") {
        let unchecked = decodingResult(input, cuts: [size / 2]) { () throws(DecompressionError) in
            try GzipDecoder(outputChunk: 4096, verifyChecksum: false)
        }
        precondition(zlib == unchecked, "skipping the CRC-32 changed zlib's result: \(zlib) / \(unchecked)")
        let isalUnchecked = decodingResult(input, cuts: [size / 2]) { () throws(DecompressionError) in
            try IsalGzipDecoder(outputChunk: 4096, verifyChecksum: false)
        }
        precondition(zlib == isalUnchecked, "skipping the CRC-32 changed ISA-L's result: \(zlib) / \(isalUnchecked)")
    }

    // The input as the deflate data of a member (header without flags, trailer of zeros).
    let member: [UInt8] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3] + Array(input) + [UInt8](repeating: 0, count: 8)
    member.withUnsafeBytes { wrapped in
        let cuts = [10 + size / 3, 10 + size / 3 + 1, 10 + 2 * size / 3]
        let zlib = decodingResult(wrapped, cuts: []) { () throws(DecompressionError) in
            try GzipDecoder(outputChunk: 64 << 10, verifyChecksum: false)
        }
        let isalWhole = decodingResult(wrapped, cuts: []) { () throws(DecompressionError) in
            try IsalGzipDecoder(outputChunk: 64 << 10, verifyChecksum: false)
        }
        let isalPieces = decodingResult(wrapped, cuts: cuts) { () throws(DecompressionError) in
            try IsalGzipDecoder(outputChunk: [1, 17, 4096][size % 3], verifyChecksum: false)
        }
        precondition(isalWhole == isalPieces, "splitting the deflate data changed ISA-L's result: \(isalWhole) / \(isalPieces)")
        checkAgreement(isal: isalWhole, zlib: zlib, wrapped, verify: false)
    }
    return 0
}

/// ISA-L's result must be zlib's but where the two libraries are known to differ (docs/fuzzing.md):
/// 1. zlib refuses a block header whose Huffman code is incomplete (these are its messages for
///    one), ISA-L decodes the block unless an unused code occurs;
/// 2. ISA-L refuses deflate data as soon as the bits it has (padded with zeros) make it invalid
///    whatever follows: a code-length code without codes, lengths leaving no end-of-block code, a
///    repeat past the end, a fixed block's code 286 or 287 or distance code 30 or 31; zlib waits
///    for all the bits of the header or code it is reading. A stream that ends there is corrupt
///    for ISA-L and truncated for zlib. Then zlib must refuse the stream, with a deflate error and
///    after the same output, whatever bytes follow it (zeros, ones, 0x5a).
func checkAgreement(isal: String, zlib: String, _ input: UnsafeRawBufferPointer, verify: Bool) {
    guard isal != zlib else { return }
    let zlibFailure = failure(input) { () throws(DecompressionError) in try GzipDecoder(verifyChecksum: verify) }
    if let zlibFailure, incompleteCodeMessages.contains(zlibFailure.message) { return }
    if isal == "corrupt" && zlib == "truncated",
        let isalFailure = failure(input, { () throws(DecompressionError) in try IsalGzipDecoder(verifyChecksum: verify) }),
        isalFailure.message.hasSuffix("(ISA-L)")
    {
        let continued = [0x00, 0xff, 0x5a].map { filler in
            (Array(input) + [UInt8](repeating: filler, count: 1 << 12)).withUnsafeBytes { extended in
                failure(extended) { () throws(DecompressionError) in try GzipDecoder(verifyChecksum: false) }
            }
        }
        if let first = continued[0], deflateMessages.contains(first.message),
            continued.allSatisfy({ $0.map { deflateMessages.contains($0.message) && $0.output == first.output } ?? false })
        {
            return
        }
    }
    preconditionFailure("ISA-L and zlib disagree: ISA-L \(isal), zlib \(zlib) (\(zlibFailure?.message ?? "no error"))")
}

/// zlib's messages for an incomplete (or over-subscribed) Huffman code.
let incompleteCodeMessages: Set = ["invalid code lengths set", "invalid literal/lengths set", "invalid distances set"]

/// zlib's messages for invalid deflate data (block headers and codes).
let deflateMessages: Set = incompleteCodeMessages.union([
    "invalid block type", "invalid stored block lengths", "too many length or distance symbols",
    "invalid bit length repeat", "invalid code -- missing end-of-block", "invalid literal/length code",
    "invalid distance code", "invalid distance too far back",
])

/// The `corrupt` error a decoder from `make` throws on `input` fed whole, if any: its message, and
/// how many bytes it decoded before it.
func failure(
    _ input: UnsafeRawBufferPointer, _ make: () throws(DecompressionError) -> any StreamDecoder
) -> (message: String, output: Int)? {
    var output = 0
    do {
        let decoder = try make()
        try decoder.feed(input) { output += $0.count }
        try decoder.finish()
    } catch DecompressionError.corrupt(_, let message) {
        return (message, output)
    } catch {}
    return nil
}
