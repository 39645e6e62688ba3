import ContainerdAPI
import Core
import GRPCCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Writes one blob into containerd's content store with the Write stream: STAT (containerd
/// answers with what it already holds of this ingest), WRITE chunks of 1 MiB from there, each
/// sent after the previous response, then COMMIT with the size, the expected digest and the
/// labels; containerd checks both.
///
/// A stream that breaks is resumed: ingests are keyed by `ref`, so a new stream on a new
/// connection continues at the offset containerd reports. (Long streams over one connection
/// were seen to end with "Stream unexpectedly closed" after one to two seconds of transfer;
/// resuming makes the import independent of that.)
@available(macOS 15.0, *)
struct ContentWriter {
    typealias Request = Containerd_Services_Content_V1_WriteContentRequest

    let socket: String
    let namespace: String
    let lease: String
    static let chunk = 1 << 20
    /// Attempts without progress before giving up.
    static let maxStalledAttempts = 4

    func write(file: String, size: Int64, digest: Digest, labels: [String: String]) async throws {
        let state = try WriteState(
            input: InputFile(path: file), size: size, digest: digest, labels: labels,
            ref: "kind-node-import-\(digest.hex)-\(UInt32.random(in: 0...UInt32.max))")
        var stalled = 0
        while true {
            let before = state.offset
            do {
                try await ContainerdConnection.withConnection(socket: socket, namespace: namespace) { containerd in
                    try await attempt(state, containerd)
                }
                return
            } catch let error as RPCError where error.code == .unavailable && state.offset < size {
                stalled = state.offset > before ? 0 : stalled + 1
                if stalled >= Self.maxStalledAttempts { throw error }
            }
        }
    }

    /// One stream: STAT, then WRITE/COMMIT in lock-step with containerd's responses.
    private func attempt(_ state: WriteState, _ containerd: ContainerdConnection) async throws {
        let (requests, sender) = AsyncStream.makeStream(of: Request.self)
        defer { sender.finish() }
        // The first request goes out before any response: grpc-swift delivers responses only
        // after containerd's first one, which answers this request.
        sender.yield(state.stat())
        try await containerd.content.write(
            metadata: containerd.metadata(lease: lease),
            requestProducer: { writer in
                for await request in requests { try await writer.write(request) }
            },
            onResponse: { response in
                // Read to the end of the stream: containerd sends the commit's response twice
                // and then its status; leaving early cancels the call.
                for try await message in response.messages {
                    if message.action == .stat { try state.resume(at: message.offset) }
                    if state.committed {
                        sender.finish()
                    } else {
                        sender.yield(try state.next())
                    }
                }
            })
    }
}

/// The reading side of one blob's ingest; used by one response handler at a time.
private final class WriteState: @unchecked Sendable {
    typealias Request = Containerd_Services_Content_V1_WriteContentRequest

    let input: InputFile
    let size: Int64
    let digest: Digest
    let labels: [String: String]
    let ref: String
    var buffer = [UInt8](repeating: 0, count: ContentWriter.chunk)
    /// Bytes containerd has received.
    private(set) var offset: Int64 = 0
    private(set) var committed = false

    init(input: InputFile, size: Int64, digest: Digest, labels: [String: String], ref: String) {
        self.input = input
        self.size = size
        self.digest = digest
        self.labels = labels
        self.ref = ref
    }

    func stat() -> Request {
        .with {
            $0.action = .stat
            $0.ref = ref
            $0.total = size
            $0.expected = digest.description
        }
    }

    /// Continues where containerd's ingest stands.
    func resume(at position: Int64) throws {
        offset = position
        try input.seek(to: position)
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
