@testable import ContainerdAPI
import NIOCore
import NIOEmbedded
import Testing

/// The filter that keeps grpc-go's bandwidth-estimation PINGs from tripping swift-nio-http2's
/// flood limit. A real containerd sends those PINGs only under load and at its own pace, so the
/// frame-level cases (split reads, budgets, other PINGs) are fed here byte by byte.
@Suite struct BandwidthPingFilterTests {
    static let estimation: [UInt8] = [2, 4, 16, 16, 9, 14, 7, 7]

    /// An HTTP/2 frame: 9-byte header (length, type, flags, stream id) and payload.
    static func frame(type: UInt8, flags: UInt8 = 0, stream: UInt32 = 0, payload: [UInt8]) -> [UInt8] {
        let length = payload.count
        return [UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff), type, flags]
            + [UInt8(stream >> 24 & 0x7f), UInt8(stream >> 16 & 0xff), UInt8(stream >> 8 & 0xff), UInt8(stream & 0xff)]
            + payload
    }

    static func ping(_ payload: [UInt8] = estimation, ack: Bool = false) -> [UInt8] {
        frame(type: 0x6, flags: ack ? 0x1 : 0, payload: payload)
    }

    /// Feeds `bytes` in reads of `split` bytes and returns everything the filter passed on.
    static func filter(_ bytes: [UInt8], split: Int, answered: Int) throws -> [UInt8] {
        let channel = EmbeddedChannel(handler: BandwidthPingFilter(answered: answered))
        var offset = 0
        while offset < bytes.count {
            let end = min(offset + split, bytes.count)
            try channel.writeInbound(channel.allocator.buffer(bytes: bytes[offset..<end]))
            offset = end
        }
        var passed: [UInt8] = []
        while var buffer = try channel.readInbound(as: ByteBuffer.self) {
            passed += buffer.readBytes(length: buffer.readableBytes) ?? []
        }
        _ = try channel.finish()
        return passed
    }

    @Test(arguments: [1, 5, 9, 17, 4096])
    func estimationPingsBeyondTheBudgetAreDroppedAndNothingElse(split: Int) throws {
        let settings = Self.frame(type: 0x4, payload: [0, 4, 0, 1, 0, 0])
        let data = Self.frame(type: 0x0, stream: 1, payload: Array(repeating: 0x06, count: 300))  // 0x06 bytes look like PING types
        let keepalive = Self.ping([1, 2, 3, 4, 5, 6, 7, 8])
        let ack = Self.ping(ack: true)
        let windowUpdate = Self.frame(type: 0x8, payload: [0, 1, 0, 0])
        let input =
            settings + Self.ping() + data + Self.ping() + windowUpdate + Self.ping() + keepalive + Self.ping() + ack + data
        let expected = settings + Self.ping() + data + Self.ping() + windowUpdate + keepalive + ack + data
        #expect(try Self.filter(input, split: split, answered: 2) == expected)
    }

    @Test func aStreamWithoutEstimationPingsPassesUnchanged() throws {
        let frames = (0..<50).flatMap { Self.frame(type: 0x0, stream: 3, payload: Array(repeating: UInt8($0), count: $0 * 7)) }
        #expect(try Self.filter(frames, split: 1000, answered: 0) == frames)
    }
}
