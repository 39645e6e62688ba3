// libFuzzer target: TarParser, fed the same stream whole and in chunks of random sizes.
// Input: one byte that seeds the chunk sizes, then the tar stream.
// Checks: no crash; the consumer protocol holds (began, data up to `size` bytes, ended); both
// feedings report the same entries, the same data and the same outcome; TarPath never crashes.
import Core
import FuzzSupport
import Tar

/// What a consumer saw, reduced to something comparable.
final class Transcript: TarConsumer {
    private var current: TarEntry?
    private var remaining: Int64 = 0
    private var data = Digester()
    private(set) var lines: [String] = []

    func tarEntryBegan(_ entry: TarEntry) throws {
        precondition(current == nil, "tarEntryBegan before the previous entry ended")
        precondition(entry.size >= 0, "negative entry size \(entry.size)")
        precondition(entry.headerOffset >= 0 && entry.headerOffset % 512 == 0, "header offset \(entry.headerOffset)")
        _ = TarPath.normalize(entry.name)
        _ = TarPath.cleaned(entry.linkName)
        current = entry
        remaining = entry.size
        data = Digester()
        lines.append(
            "\(entry.headerOffset) \(entry.type) \(entry.name) -> \(entry.linkName) size \(entry.size) mode \(entry.mode)"
                + " \(entry.uid):\(entry.gid) \(entry.modificationTime) \(entry.xattrs) \(String(describing: entry.sparse))")
    }

    func tarEntryData(_ bytes: UnsafeRawBufferPointer) throws {
        precondition(current != nil, "tarEntryData outside an entry")
        precondition(!bytes.isEmpty, "empty data chunk")
        precondition(Int64(bytes.count) <= remaining, "more data than the entry's size")
        remaining -= Int64(bytes.count)
        data.update(bytes)
    }

    func tarEntryEnded() throws {
        precondition(current != nil, "tarEntryEnded outside an entry")
        precondition(remaining == 0, "entry ended \(remaining) bytes short of its size")
        current = nil
        lines.append("data \(data.finalize())")
    }

    /// Parses `stream` in chunks whose sizes `nextChunk` chooses; returns the transcript and outcome.
    static func parse(_ stream: UnsafeRawBufferPointer, nextChunk: () -> Int) -> (lines: [String], outcome: String) {
        let transcript = Transcript()
        let parser = TarParser(consumer: transcript)
        var start = 0
        do {
            while start < stream.count {
                let end = min(stream.count, start + nextChunk())
                try parser.feed(UnsafeRawBufferPointer(rebasing: stream[start..<end]))
                start = end
            }
            try parser.finish()
            precondition(parser.offset == Int64(stream.count), "offset \(parser.offset) after \(stream.count) bytes")
            precondition(transcript.current == nil, "finish accepted an open entry")
            return (transcript.lines, "ok")
        } catch let error as TarError {
            return (transcript.lines, "\(error)")
        } catch {
            preconditionFailure("TarParser threw a non-TarError: \(error)")
        }
    }
}

@main
enum Main {
    static func main() { runLibFuzzer(fuzz) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 1 else { return 0 }
    let stream = UnsafeRawBufferPointer(start: data + 1, count: size - 1)
    // xorshift32, seeded from the first byte; chunks of 1 to `largest` bytes.
    var state = UInt32(data[0]) &* 0x9E37_79B9 | 1
    let largest = [1, 3, 17, 511, 512, 513, 4096, 65536][Int(data[0] & 7)]
    let whole = Transcript.parse(stream) { Int.max }
    let chunked = Transcript.parse(stream) {
        state ^= state << 13
        state ^= state >> 17
        state ^= state << 5
        return 1 + Int(state % UInt32(largest))
    }
    precondition(whole.lines == chunked.lines, "chunking changed the entries")
    precondition(whole.outcome == chunked.outcome, "chunking changed the outcome: \(whole.outcome) / \(chunked.outcome)")
    return 0
}
