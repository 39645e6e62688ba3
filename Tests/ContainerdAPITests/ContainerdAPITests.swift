import ContainerdAPI
import Core
import Foundation
import GRPCCore
import SwiftProtobuf
import Testing
import TestSupport

/// Our gRPC client against a real containerd (scripts/private-containerd: its own root, state
/// and socket in a temp dir; stopped and removed whatever happens).
@Suite(.serialized) struct ContainerdAPITests {
    /// Starts a private containerd, runs `body` with a connection to it in namespace k8s.io, and
    /// stops it in all cases.
    func withPrivateContainerd(
        _ body: (ContainerdConnection, _ socket: String, _ directory: String) async throws -> Void
    ) async throws {
        let daemon = try PrivateContainerd()
        defer { withExtendedLifetime(daemon) {} }  // stopped only after the body
        try await ContainerdConnection.withConnection(socket: daemon.socket, namespace: "k8s.io") { containerd in
            try await body(containerd, daemon.socket, daemon.directory)
        }
    }

    /// The limit only catches a hang. The synchronous tests of other suites run processes on
    /// Swift concurrency's shared threads (two on a 2-core machine); each await here can wait
    /// for one of them, and a full parallel run was seen to take this test past 100 s.
    @Test(.timeLimit(.minutes(5))) func talksToContainerdOverOurClient() async throws {
        try await withPrivateContainerd { containerd, socket, directory in
            // Version (not namespaced).
            let version = try await containerd.version.version(Google_Protobuf_Empty())
            // The installation's (scripts/private-containerd: $KNI_CONTAINERD_DIR or Debian's 1.6).
            #expect(!PrivateContainerd.version.isEmpty && version.version == PrivateContainerd.version, "version \(version.version)")

            // Introspection: the overlayfs snapshotter and the directory it exports as root.
            let plugins = try await containerd.introspection.plugins(
                .with { $0.filters = ["type==io.containerd.snapshotter.v1,id==overlayfs"] }
            ).plugins
            #expect(plugins.count == 1)
            let overlayfs = try #require(plugins.first)
            #expect(overlayfs.type == "io.containerd.snapshotter.v1" && overlayfs.id == "overlayfs")
            #expect(!overlayfs.hasInitErr, "overlayfs failed to load: \(overlayfs.initErr.message)")
            #expect(overlayfs.exports["root"] == "\(directory)/root/io.containerd.snapshotter.v1.overlayfs")

            // A namespaced call without the namespace header is refused.
            let refused = await #expect(throws: RPCError.self) {
                _ = try await containerd.leases.list(.init())
            }
            #expect(refused?.code == .failedPrecondition)

            // Leases: create (with an expiry label), list, then the content write below under it.
            let leaseID = "kni-test-\(UUID().uuidString)"
            let expiry = ISO8601DateFormatter().string(from: Date().addingTimeInterval(3600))
            let lease = try await containerd.leases.create(
                .with {
                    $0.id = leaseID
                    $0.labels = ["containerd.io/gc.expire": expiry]
                },
                metadata: containerd.metadata()
            ).lease
            #expect(lease.id == leaseID && lease.labels["containerd.io/gc.expire"] == expiry)
            let listed = try await containerd.leases.list(
                .with { $0.filters = ["id==\(leaseID)"] }, metadata: containerd.metadata()
            ).leases
            #expect(listed.map(\.id) == [leaseID])

            // Content Write (bidi stream, lock-step: one response per request) under the lease.
            let blob = Array("kind-node-import writes this blob through containerd's Content API\n".utf8)
            let digest = Digest.of(blob).description
            let responses = try await writeBlob(blob, digest: digest, ref: "kni-test-\(leaseID)", containerd, lease: leaseID)
            #expect(responses.map(\.action) == [.stat, .write, .commit])
            #expect(responses[0].offset == 0)
            #expect(responses[1].offset == Int64(blob.count))
            #expect(responses[2].digest == digest)

            let info = try await containerd.content.info(.with { $0.digest = digest }, metadata: containerd.metadata()).info
            #expect(info.digest == digest && info.size == Int64(blob.count))
            #expect(info.labels["kni.test/label"] == "on-commit")

            // Read (server stream) gives the bytes back.
            let read = try await containerd.content.read(
                .with { $0.digest = digest }, metadata: containerd.metadata()
            ) { response in
                var bytes: [UInt8] = []
                for try await chunk in response.messages { bytes += chunk.data }
                return bytes
            }
            #expect(read == blob)

            // ctr (containerd's own client) sees the blob.
            let ls = try runChecked([PrivateContainerd.ctrExecutable, "-a", socket, "-n", "k8s.io", "content", "ls"]).stdoutText
            #expect(ls.contains(digest), "ctr content ls:\n\(ls)")

            // Deleting the lease (sync: waits for GC) releases the unreferenced blob.
            _ = try await containerd.leases.delete(.with { $0.id = leaseID; $0.sync = true }, metadata: containerd.metadata())
            let after = try await containerd.leases.list(
                .with { $0.filters = ["id==\(leaseID)"] }, metadata: containerd.metadata()
            ).leases
            #expect(after.isEmpty)
            let gone = await #expect(throws: RPCError.self) {
                _ = try await containerd.content.info(.with { $0.digest = digest }, metadata: containerd.metadata())
            }
            #expect(gone?.code == .notFound)
        }
    }

    /// STAT, WRITE (all of `blob`), COMMIT (size and digest checked by containerd), each sent
    /// only after the previous response arrived. Returns the three responses.
    ///
    /// grpc-swift-2 calls `onResponse` only once the response headers have arrived, and
    /// containerd (grpc-go) sends them with its first response: so the first request must be
    /// sent before `onResponse` runs (here: queued in the stream before the call), or both sides
    /// wait for each other forever.
    func writeBlob(
        _ blob: [UInt8], digest: String, ref: String, _ containerd: ContainerdConnection, lease: String
    ) async throws -> [Containerd_Services_Content_V1_WriteContentResponse] {
        typealias Request = Containerd_Services_Content_V1_WriteContentRequest
        typealias Response = Containerd_Services_Content_V1_WriteContentResponse
        let (requests, sender) = AsyncStream.makeStream(of: Request.self)
        defer { sender.finish() }  // ends the request stream whatever happens
        let total = Int64(blob.count)
        sender.yield(.with {
            $0.action = .stat
            $0.ref = ref
            $0.total = total
            $0.expected = digest
        })
        return try await containerd.content.write(
            metadata: containerd.metadata(lease: lease),
            requestProducer: { writer in
                for await request in requests { try await writer.write(request) }
            },
            onResponse: { response in
                var messages = response.messages.makeAsyncIterator()
                func next() async throws -> Response {
                    guard let reply = try await messages.next() else {
                        throw RPCError(code: .internalError, message: "containerd ended the Write stream early")
                    }
                    return reply
                }
                let stat = try await next()
                sender.yield(.with {
                    $0.action = .write
                    $0.ref = ref
                    $0.offset = stat.offset
                    $0.data = Data(blob[Int(stat.offset)...])
                })
                let write = try await next()
                // COMMIT must carry the current offset: offset 0 with data already written
                // means "start again" (containerd truncates), and the size check then fails.
                sender.yield(.with {
                    $0.action = .commit
                    $0.ref = ref
                    $0.offset = write.offset
                    $0.total = total
                    $0.expected = digest
                    $0.labels = ["kni.test/label": "on-commit"]
                })
                let commit = try await next()
                sender.finish()
                return [stat, write, commit]
            }
        )
    }
}
