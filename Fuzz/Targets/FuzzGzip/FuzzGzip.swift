// libFuzzer target: the gzip StreamDecoder (GzipDecoder), on the input as a gzip stream.
// Checks: no crash; feeding the input whole and in three pieces, with different output chunks,
// gives the same output, or the same kind of error (DecoderCheck); a stream that decodes with
// its CRC-32 checked decodes the same without the check (the import's `LayerApplication(verifyingChecksum: false)`).
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
    let whole = checkChunkingIndependence(input) { chunk throws(DecompressionError) in try GzipDecoder(outputChunk: chunk) }
    if whole.hasSuffix(" ok") {
        let unchecked = decodingResult(input, cuts: [size / 2]) { () throws(DecompressionError) in
            try GzipDecoder(outputChunk: 4096, verifyChecksum: false)
        }
        precondition(whole == unchecked, "skipping the CRC-32 changed the result: \(whole) / \(unchecked)")
    }
    return 0
}
