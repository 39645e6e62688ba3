// libFuzzer target: the zstd StreamDecoder (ZstdDecoder), on the input as a zstd stream.
// Checks: no crash; feeding the input whole and in three pieces, with different output chunks,
// gives the same output, or the same kind of error (DecoderCheck).
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
    _ = checkChunkingIndependence(input) { chunk throws(DecompressionError) in try ZstdDecoder(outputChunk: chunk) }
    return 0
}
