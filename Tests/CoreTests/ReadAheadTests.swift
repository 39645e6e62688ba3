import Foundation
import Testing

@testable import Core

/// The read pass reads its input on a thread of its own (`InputFile.forEachChunk(readAhead:)`):
/// what the sink sees must be the input, in order, whatever the chunking of the source.
@Suite struct ReadAheadTests {
    static func temporaryFile(_ bytes: [UInt8]) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("kni-read-ahead-\(UUID().uuidString)").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test(arguments: [1, 2, 5])
    func theSinkGetsEveryByteInOrder(depth: Int) throws {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<(5 << 20) + 12345).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let path = try Self.temporaryFile(bytes)
        defer { try? FileManager.default.removeItem(atPath: path) }
        var seen: [UInt8] = []
        var chunks = 0
        try InputFile(path: path).forEachChunk(chunkSize: 64 << 10, readAhead: depth) { chunk in
            #expect(chunk.count <= 64 << 10)
            seen.append(contentsOf: chunk)
            chunks += 1
        }
        #expect(seen == bytes)
        #expect(chunks >= bytes.count / (64 << 10))
    }

    /// A pipe delivers small, late pieces: still every byte, in order, then the end.
    @Test func aSlowPipeIsReadToItsEnd() throws {
        let pipe = Pipe()
        let pieces = (0..<200).map { index in [UInt8](repeating: UInt8(index % 251), count: 1 + index * 37) }
        let writer = pipe.fileHandleForWriting
        let thread = Thread {
            for piece in pieces {
                writer.write(Data(piece))
                if piece.count % 7 == 0 { usleep(500) }
            }
            try? writer.close()
        }
        thread.start()
        let input = try InputFile(path: "/dev/fd/\(pipe.fileHandleForReading.fileDescriptor)")
        var seen: [UInt8] = []
        try input.forEachChunk(chunkSize: 4096, readAhead: 3) { seen.append(contentsOf: $0) }
        #expect(seen == pieces.flatMap { $0 })
    }

    struct Stop: Error {}

    /// A sink that fails stops the read: its error comes out, and nothing more is handed on.
    @Test func aFailingSinkStopsTheRead() throws {
        let path = try Self.temporaryFile([UInt8](repeating: 7, count: 4 << 20))
        defer { try? FileManager.default.removeItem(atPath: path) }
        var calls = 0
        #expect(throws: Stop.self) {
            try InputFile(path: path).forEachChunk(chunkSize: 64 << 10, readAhead: 3) { _ in
                calls += 1
                if calls == 3 { throw Stop() }
            }
        }
        #expect(calls == 3)
    }
}
