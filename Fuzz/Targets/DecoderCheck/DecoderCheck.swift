// What the gzip and zstd targets check of a StreamDecoder: the same result whatever the input's
// chunks and the output's chunk size.
import Compression
import Core

/// Decodes `input` split at `cuts` with a decoder from `make`: the output's digest and length
/// when it decodes, else the kind of error (how much output precedes an error depends on the
/// output chunk, and the library's message on how it met the error: only the kind counts).
public func decodingResult(
    _ input: UnsafeRawBufferPointer, cuts: [Int], _ make: () throws(DecompressionError) -> any StreamDecoder
) -> String {
    var output = Digester()
    do {
        let decoder = try make()
        var start = 0
        for end in (cuts + [input.count]).map({ min($0, input.count) }) where end >= start {
            try decoder.feed(UnsafeRawBufferPointer(rebasing: input[start..<end])) { output.update($0) }
            start = end
        }
        try decoder.finish()
        return "\(output.finalize()) \(output.count) ok"
    } catch let error as DecompressionError {
        switch error {
        case .setup: return "setup"
        case .corrupt: return "corrupt"
        case .truncated: return "truncated"
        }
    } catch {
        preconditionFailure("a decoder threw a non-DecompressionError: \(error)")
    }
}

/// The input whole (64 KiB output chunks) and in three pieces (output chunks of 1, 17 or 4096
/// bytes) must decode alike; returns the whole input's result. Output chunks smaller than
/// production's keep ASan's allocator off mmap and drive the output loop through its boundaries.
public func checkChunkingIndependence(
    _ input: UnsafeRawBufferPointer, _ make: (_ outputChunk: Int) throws(DecompressionError) -> any StreamDecoder
) -> String {
    let size = input.count
    let whole = decodingResult(input, cuts: []) { () throws(DecompressionError) in try make(64 << 10) }
    let pieces = decodingResult(input, cuts: [size / 3, size / 3 + 1, 2 * size / 3]) { () throws(DecompressionError) in
        try make([1, 17, 4096][size % 3])
    }
    precondition(whole == pieces, "splitting the input changed the result: \(whole) / \(pieces)")
    return whole
}
