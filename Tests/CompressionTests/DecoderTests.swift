import Foundation
import Testing
import TestSupport

@testable import Compression

/// Decodes `input` fed `chunk` bytes at a time.
func decode(_ compression: Compression, _ input: [UInt8], chunk: Int = 1 << 16) throws -> [UInt8] {
    let decoder = try compression.makeDecoder()
    var output: [UInt8] = []
    try input.withUnsafeBytes { raw in
        var offset = 0
        while offset < raw.count {
            let end = min(offset + chunk, raw.count)
            try decoder.feed(UnsafeRawBufferPointer(rebasing: raw[offset..<end])) { output += $0 }
            offset = end
        }
    }
    try decoder.finish()
    return output
}

/// Compresses `data` with the real command-line tool (`gzip` or `zstd`).
func compress(_ tool: String, _ data: [UInt8], in temp: TemporaryDirectory, name: String = "data") throws -> [UInt8] {
    let path = temp.path(name)
    try Data(data).write(to: URL(fileURLWithPath: path))
    try runChecked([tool, "-q", "-f", "-k", path])
    return try readBytes(path + (tool == "gzip" ? ".gz" : ".zst"))
}

/// Compressible but not trivial test data.
func sampleData(_ count: Int, seed: UInt64 = 1) -> [UInt8] {
    var state = seed
    return (0..<count).map { index in
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return index % 3 == 0 ? UInt8(truncatingIfNeeded: state >> 59) : UInt8(truncatingIfNeeded: index / 7)
    }
}

@Suite struct DecoderTests {
    @Test(arguments: ["gzip", "zstd"])
    func decodesWhatTheRealToolWrote(tool: String) throws {
        let temp = try TemporaryDirectory()
        let data = sampleData(3 << 20)
        let compressed = try compress(tool, data, in: temp)
        let kind: Compression = tool == "gzip" ? .gzip : .zstd
        compressed.withUnsafeBytes { #expect(Compression.detect($0) == kind) }
        for chunk in [1 << 20, 4096, 13] where chunk > 100 || compressed.count < 200_000 {
            #expect(try decode(kind, compressed, chunk: chunk) == data)
        }
        #expect(try decode(kind, compressed, chunk: 17) == data)
    }

    @Test(arguments: ["gzip", "zstd"])
    func concatenatedMembersDecodeInSequence(tool: String) throws {
        let temp = try TemporaryDirectory()
        let first = sampleData(100_000, seed: 1)
        let second = sampleData(50_000, seed: 2)
        let joined = try compress(tool, first, in: temp, name: "a") + compress(tool, second, in: temp, name: "b")
        #expect(try decode(tool == "gzip" ? .gzip : .zstd, joined) == first + second)
    }

    @Test(arguments: ["gzip", "zstd"])
    func truncatedStreamsAreReported(tool: String) throws {
        let temp = try TemporaryDirectory()
        let compressed = try compress(tool, sampleData(500_000), in: temp)
        let kind: Compression = tool == "gzip" ? .gzip : .zstd
        #expect(throws: DecompressionError.truncated(kind)) {
            _ = try decode(kind, Array(compressed.prefix(compressed.count / 2)))
        }
    }

    @Test(arguments: ["gzip", "zstd"])
    func corruptStreamsAreReported(tool: String) throws {
        let temp = try TemporaryDirectory()
        var compressed = try compress(tool, sampleData(500_000), in: temp)
        for index in stride(from: 40, to: compressed.count - 16, by: 97) { compressed[index] ^= 0x5a }
        let kind: Compression = tool == "gzip" ? .gzip : .zstd
        #expect {
            _ = try decode(kind, compressed)
        } throws: { error in
            guard case DecompressionError.corrupt(let reported, _) = error else { return false }
            return reported == kind
        }
    }

    @Test func trailingGarbageAfterGzipIsCorrupt() throws {
        let temp = try TemporaryDirectory()
        let compressed = try compress("gzip", sampleData(1000), in: temp) + Array("garbage".utf8)
        #expect {
            _ = try decode(.gzip, compressed)
        } throws: { error in
            guard case DecompressionError.corrupt(.gzip, _) = error else { return false }
            return true
        }
    }

    @Test func uncompressedDataIsDetectedAndPassedThrough() throws {
        let data = sampleData(10_000)
        data.withUnsafeBytes { #expect(Compression.detect($0) == Compression.none) }
        #expect(try decode(.none, data, chunk: 333) == data)
    }
}
