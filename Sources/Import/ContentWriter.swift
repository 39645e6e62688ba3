import ContainerdAPI
import Core
import GRPCCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Writes one blob into containerd's content store with the Write stream: STAT (containerd
/// answers with what it already holds of this ingest), then WRITE chunks from that offset
/// without waiting for each answer (HTTP/2 flow control paces them), then COMMIT with the size,
/// the expected digest and the labels; containerd checks both. At most `window` WRITEs are
/// unanswered at a time, which bounds the memory the stream holds.
///
/// Why pipelined: containerd's gRPC server (grpc-go) sends a bandwidth-estimation PING whenever
/// data arrives while no such PING is outstanding, and stops once its estimate reaches 16 MiB.
/// Sent in lock-step, 1 MiB at a time, the estimate never gets there: containerd sends about two
/// PINGs per MiB, and swift-nio-http2 closes a connection that receives more than 200 PING or
/// SETTINGS frames in 30 s (a DoS heuristic), so a 130 MB blob broke off at 80–100 MB. With the
/// window kept full, the estimate reaches its limit within a few round trips and the PINGs stop.
///
/// The COMMIT may wait (`IngestEnding`): the stream then stays open once every WRITE is
/// answered, until the import decides to commit or to abort (`HeldIngest`).
///
/// A stream that breaks anyway is resumed: ingests are keyed by `ref`, so a new stream on a new
/// connection continues at the offset containerd reports.
@available(macOS 15.0, *)
struct ContentWriter {
    typealias Request = Containerd_Services_Content_V1_WriteContentRequest

    let socket: String
    let namespace: String
    let lease: String
    static let chunk = 256 << 10
    /// WRITE requests sent ahead of containerd's answers.
    static let window = 8
    /// Blobs an import writes at the same time: containerd hashes and writes each Write stream
    /// on one goroutine, so a second stream lets it use a second core.
    static let streams = 2
    /// Attempts without progress before giving up.
    static let maxStalledAttempts = 4

    /// A fresh ingest name for a blob.
    static func ref(for digest: Digest) -> String {
        "kind-node-import-\(digest.hex)-\(UInt32.random(in: 0...UInt32.max))"
    }

    /// Writes and commits a blob at once.
    func write(file: String, size: Int64, digest: Digest, labels: [String: String]) async throws {
        try await write(file: file, size: size, digest: digest, ref: Self.ref(for: digest), ending: IngestEnding(.commit(labels)))
    }

    /// Writes a blob into the ingest `ref`; once containerd has answered every WRITE, marks
    /// `ending` sent and ends the stream as `ending` decides. An abort decided meanwhile stops
    /// the WRITEs.
    func write(file: String, size: Int64, digest: Digest, ref: String, ending: IngestEnding) async throws {
        var stalled = 0
        var acknowledged: Int64 = -1
        while true {
            let progress = Progress()
            do {
                try await ContainerdConnection.withConnection(socket: socket, namespace: namespace) { containerd in
                    try await attempt(file: file, size: size, digest: digest, ending: ending, ref: ref, progress: progress, containerd)
                }
                return
            } catch let error as RPCError where error.code == .unavailable && progress.resumedAt < size {
                stalled = progress.resumedAt > acknowledged ? 0 : stalled + 1
                acknowledged = progress.resumedAt
                if stalled >= Self.maxStalledAttempts { throw error }
            }
        }
    }

    /// One stream: STAT, then every WRITE and the COMMIT; responses are read concurrently.
    private func attempt(
        file: String, size: Int64, digest: Digest, ending: IngestEnding, ref: String, progress: Progress,
        _ containerd: ContainerdConnection
    ) async throws {
        // Each answer from containerd, in order: the STAT's offset, then one per WRITE.
        let (answers, answerSender) = AsyncStream.makeStream(of: Int64.self)
        defer { answerSender.finish() }
        try await containerd.content.write(
            metadata: containerd.metadata(lease: lease),
            requestProducer: { writer in
                /// A request of this ingest: every one names the ref, the size and the digest.
                func request(_ action: Containerd_Services_Content_V1_WriteAction, at offset: Int64 = 0) -> Request {
                    .with {
                        $0.action = action
                        $0.ref = ref
                        $0.total = size
                        $0.expected = digest.description
                        $0.offset = offset
                    }
                }
                try await writer.write(request(.stat))
                // Continue where containerd's ingest stands (0 for a new one).
                var iterator = answers.makeAsyncIterator()
                guard var offset = await iterator.next() else { return }
                var unanswered = 0
                let input = try InputFile(path: file)
                try input.seek(to: offset)
                while true {
                    if case .abort = ending.decision { return }
                    // Read straight into the message's bytes (the request keeps them while in flight).
                    var chunk = Data(count: Self.chunk)
                    let count = try chunk.withUnsafeMutableBytes { try input.read(into: $0) }
                    if count == 0 { break }
                    chunk.count = count
                    if unanswered == Self.window {
                        guard await iterator.next() != nil else { return }
                        unanswered -= 1
                    }
                    var data = request(.write, at: offset)
                    data.data = chunk
                    try await writer.write(data)
                    offset += Int64(count)
                    unanswered += 1
                }
                // Every WRITE answered: containerd holds the whole blob.
                while unanswered > 0 {
                    guard await iterator.next() != nil else { return }
                    unanswered -= 1
                }
                ending.markSent(.success(()))
                guard case .commit(let labels) = await ending.decided() else { return }
                var commit = request(.commit, at: offset)
                commit.labels = labels
                try await writer.write(commit)
            },
            onResponse: { response in
                // However the response ends (containerd's status, an error, a broken or a never
                // established stream), the producer must stop waiting for answers: gRPC waits
                // for the producer before the call returns.
                defer { answerSender.finish() }
                // Read to the end of the stream: containerd answers every request (the commit
                // twice) and then sends its status; leaving early cancels the call.
                var first = true
                for try await message in response.messages {
                    if first {
                        first = false
                        progress.resumedAt = message.offset
                    }
                    answerSender.yield(message.offset)
                }
            })
    }

    /// Where the last attempt's STAT found containerd's ingest.
    private final class Progress: @unchecked Sendable {
        var resumedAt: Int64 = 0
    }
}
