import ContainerdAPI
import Core
import GRPCCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Writes one blob into containerd's content store with the Write stream: WRITE chunks of
/// 1 MiB, each sent after the previous response (containerd answers every request), then
/// COMMIT with the size, the expected digest and the labels. containerd checks both.
@available(macOS 15.0, *)
struct ContentWriter {
    typealias Request = Containerd_Services_Content_V1_WriteContentRequest

    let containerd: ContainerdConnection
    let metadata: Metadata
    static let chunk = 1 << 20

    func write(file: String, size: Int64, digest: Digest, labels: [String: String]) async throws {
        let state = try WriteState(
            input: InputFile(path: file), size: size, digest: digest, labels: labels,
            ref: "kind-node-import-\(digest.hex)-\(UInt32.random(in: 0...UInt32.max))")
        let (requests, sender) = AsyncStream.makeStream(of: Request.self)
        defer { sender.finish() }
        // The first request goes out before any response: grpc-swift delivers responses only
        // after containerd's first one, which answers this request.
        sender.yield(try state.next())
        try await containerd.content.write(
            metadata: metadata,
            requestProducer: { writer in
                for await request in requests { try await writer.write(request) }
            },
            onResponse: { response in
                for try await _ in response.messages {
                    if state.committed {
                        sender.finish()
                        break
                    }
                    sender.yield(try state.next())
                }
            })
    }
}

/// The reading side of one Write stream; used by one response handler at a time.
private final class WriteState: @unchecked Sendable {
    typealias Request = Containerd_Services_Content_V1_WriteContentRequest

    let input: InputFile
    let size: Int64
    let digest: Digest
    let labels: [String: String]
    let ref: String
    var buffer = [UInt8](repeating: 0, count: ContentWriter.chunk)
    var offset: Int64 = 0
    private(set) var committed = false

    init(input: InputFile, size: Int64, digest: Digest, labels: [String: String], ref: String) {
        self.input = input
        self.size = size
        self.digest = digest
        self.labels = labels
        self.ref = ref
    }

    /// The next request: data while the file has some, then the commit.
    func next() throws -> Request {
        let count = try buffer.withUnsafeMutableBytes { try input.read(into: $0) }
        if count == 0 {
            committed = true
            return .with {
                $0.action = .commit
                $0.ref = ref
                $0.total = size
                $0.offset = offset
                $0.expected = digest.description
                $0.labels = labels
            }
        }
        let start = offset
        offset += Int64(count)
        return .with {
            $0.action = .write
            $0.ref = ref
            $0.total = size
            $0.expected = digest.description
            $0.offset = start
            $0.data = Data(buffer[0..<count])
        }
    }
}
