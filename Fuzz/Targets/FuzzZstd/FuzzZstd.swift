// libFuzzer target: the zstd StreamDecoder (ZstdDecoder), on the input as a zstd stream.
// Checks: no crash; feeding the input whole and in three pieces, with different output chunks,
// gives the same output, or the same kind of error.
import Compression
import Core
import FuzzSupport

/// Decodes `input` split at `cuts`: the output's digest and length when it decodes, else the kind of error.
/// Output chunks smaller than libzstd's 128 KiB keep ASan's allocator off mmap and drive the
/// decoder's output loop through more of its boundaries.
func decode(_ input: UnsafeRawBufferPointer, cuts: [Int], outputChunk: Int) -> String {
    var output = Digester()
    do {
        let decoder = try ZstdDecoder(outputChunk: outputChunk)
        var start = 0
        for end in (cuts + [input.count]).map({ min($0, input.count) }) where end >= start {
            try decoder.feed(UnsafeRawBufferPointer(rebasing: input[start..<end])) { output.update($0) }
            start = end
        }
        try decoder.finish()
        return "\(output.finalize()) \(output.count) ok"
    } catch let error as DecompressionError {
        // How much output precedes the error depends on the output chunk, and the library's
        // message on how it met the error (one call or several): only the kind of error counts.
        switch error {
        case .setup: return "setup"
        case .corrupt: return "corrupt"
        case .truncated: return "truncated"
        }
    } catch {
        preconditionFailure("the zstd decoder threw a non-DecompressionError: \(error)")
    }
}

@main
enum Main {
    static func main() { runLibFuzzer(fuzz) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    let whole = decode(input, cuts: [], outputChunk: 64 << 10)
    let pieces = decode(input, cuts: [size / 3, size / 3 + 1, 2 * size / 3], outputChunk: [1, 17, 4096][size % 3])
    precondition(whole == pieces, "splitting the input changed the result: \(whole) / \(pieces)")
    return 0
}
