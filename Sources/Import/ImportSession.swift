import ContainerdAPI
import Core
import GRPCCore

/// The import's hold on one containerd: its connection, the namespace, and the lease that keeps
/// what the import writes from GC until the records exist. Every phase talks to containerd
/// through it; the Write streams of blobs go on connections of their own (`writer`), under the
/// same lease.
@available(macOS 15.0, *)
struct ImportSession: Sendable {
    let containerd: ContainerdConnection
    let socket: String
    let lease: String
    /// The blobs this import holds uncommitted until the verdict.
    let ingests = IngestBook()

    var namespace: String { containerd.namespace }
    /// Headers of calls whose results the lease keeps.
    var leased: Metadata { containerd.metadata(lease: lease) }
    /// Headers of calls outside the lease (records, the lease itself).
    var plain: Metadata { containerd.metadata() }

    /// Writes blobs under the lease, each stream on a connection of its own.
    var writer: ContentWriter { ContentWriter(socket: socket, namespace: namespace, lease: lease) }

    /// Adds an existing resource to the lease, so GC keeps it until the import ends (another
    /// import's lease, or the records that kept it, may go away first).
    func hold(_ id: String, type: String) async throws {
        _ = try await containerd.leases.addResource(
            .with {
                $0.id = lease
                $0.resource = .with {
                    $0.id = id
                    $0.type = type
                }
            }, metadata: plain)
    }
}
