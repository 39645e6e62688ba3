// A gRPC connection to containerd over its unix socket, with typed clients for the services in
// Generated/ (made from Protos/ by scripts/generate-protos) and the metadata containerd expects.

import GRPCCore
import GRPCNIOTransportHTTP2Posix
import NIOCore
import NIOHTTP2

/// One containerd, one namespace. Make one with `ContainerdConnection.withConnection`: the
/// connection lives for the closure, then shuts down gracefully (in-flight calls finish).
///
/// ```swift
/// try await ContainerdConnection.withConnection(socket: "/run/containerd/containerd.sock",
///                                               namespace: "k8s.io") { containerd in
///     let version = try await containerd.version.version(.init())
///     let info = try await containerd.content.info(.with { $0.digest = digest },
///                                                  metadata: containerd.metadata())
/// }
/// ```
///
/// Namespaced services (content, images, leases, snapshots, diff) fail with
/// `failedPrecondition: namespace is required` without `metadata()`; Version and Introspection
/// do not need it. Calls fail fast with `unavailable` when the socket cannot be reached.
/// CRI's services, served by containerd's CRI plugin on the same socket, are in CRI.swift.
@available(macOS 15.0, iOS 18.0, watchOS 11.0, tvOS 18.0, visionOS 2.0, *)
public struct ContainerdConnection: Sendable {
    public typealias Transport = HTTP2ClientTransport.Posix

    /// The gRPC header carrying the containerd namespace of a call.
    public static let namespaceHeader = "containerd-namespace"
    /// The gRPC header carrying the lease that protects what a call creates from GC.
    public static let leaseHeader = "containerd-lease"
    /// containerd's own limit for one message in either direction (16 MiB); grpc-swift's default is 4 MiB.
    public static let maxMessageBytes = 16 << 20

    /// The running client; the typed clients below wrap it.
    public let client: GRPCClient<Transport>
    /// The containerd namespace that `metadata()` names (e.g. "k8s.io" for what kubelet sees).
    public let namespace: String

    public init(client: GRPCClient<Transport>, namespace: String) {
        self.client = client
        self.namespace = namespace
    }

    /// The headers for a namespaced call: `containerd-namespace`, and `containerd-lease` when
    /// `lease` is given (what the call creates is then kept until that lease is deleted).
    public func metadata(lease: String? = nil) -> Metadata {
        Self.metadata(namespace: namespace, lease: lease)
    }

    public static func metadata(namespace: String, lease: String? = nil) -> Metadata {
        var metadata: Metadata = [:]
        metadata.addString(namespace, forKey: namespaceHeader)
        if let lease { metadata.addString(lease, forKey: leaseHeader) }
        return metadata
    }

    public var content: Containerd_Services_Content_V1_Content.Client<Transport> { .init(wrapping: client) }
    public var leases: Containerd_Services_Leases_V1_Leases.Client<Transport> { .init(wrapping: client) }
    public var images: Containerd_Services_Images_V1_Images.Client<Transport> { .init(wrapping: client) }
    public var snapshots: Containerd_Services_Snapshots_V1_Snapshots.Client<Transport> { .init(wrapping: client) }
    public var diff: Containerd_Services_Diff_V1_Diff.Client<Transport> { .init(wrapping: client) }
    public var introspection: Containerd_Services_Introspection_V1_Introspection.Client<Transport> {
        .init(wrapping: client)
    }
    public var version: Containerd_Services_Version_V1_Version.Client<Transport> { .init(wrapping: client) }

    /// The transport for containerd's socket: HTTP/2 in plaintext over a unix domain socket.
    public static func transport(socket: String) throws -> Transport {
        try .http2NIOPosix(
            target: .unixDomainSocket(path: socket),
            transportSecurity: .plaintext,
            config: transportConfig,
            serviceConfig: ServiceConfig(methodConfig: [
                MethodConfig(
                    names: [MethodConfig.Name(service: "")],  // every method
                    maxRequestMessageBytes: maxMessageBytes,
                    maxResponseMessageBytes: maxMessageBytes
                )
            ])
        )
    }

    /// grpc-swift's defaults, with `BandwidthPingFilter` in front of the HTTP/2 handler of every
    /// connection (the transport's only hook into the pipeline is this callback).
    static var transportConfig: Transport.Config {
        var config = Transport.Config.defaults
        config.channelDebuggingCallbacks.onCreateTCPConnection = { channel in
            // Called on the channel's event loop once the gRPC pipeline is set up.
            channel.eventLoop.makeCompletedFuture {
                let http2 = try channel.pipeline.syncOperations.handler(type: NIOHTTP2Handler.self)
                try channel.pipeline.syncOperations.addHandler(BandwidthPingFilter(), position: .before(http2))
            }
        }
        return config
    }

    /// How long a graceful shutdown may wait for calls still in flight before the connections
    /// are cancelled.
    public static let shutdownGrace: Duration = .seconds(10)

    /// Connects to the containerd listening on `socket`, runs `body` with the connection and shuts
    /// the connection down gracefully when `body` returns or throws; what `body` returned or threw
    /// is the answer. A call that never ends (a cancelled one that does not answer its
    /// cancellation) holds the shutdown `shutdownGrace` at most: then the connections are
    /// cancelled, so a clean-up path always ends.
    public static func withConnection<Result: Sendable>(
        socket: String,
        namespace: String,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (ContainerdConnection) async throws -> Result
    ) async throws -> Result {
        let client = GRPCClient(transport: try transport(socket: socket))
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await client.runConnections() }
            let outcome: Swift.Result<Result, any Error>
            do {
                outcome = .success(try await body(ContainerdConnection(client: client, namespace: namespace)))
            } catch {
                outcome = .failure(error)
            }
            client.beginGracefulShutdown()
            group.addTask { try await Task.sleep(for: shutdownGrace) }
            _ = try? await group.next()  // the connections closed, or the grace ran out
            group.cancelAll()
            return try outcome.get()
        }
    }
}
