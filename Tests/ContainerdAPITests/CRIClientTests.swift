import ContainerdAPI
import Foundation
import GRPCCore
import Testing
import TestSupport

/// CRI's services on containerd's socket, through our client: with the CRI plugin on, and off.
@Suite(.serialized, .enabled(if: getuid() == 0, "needs root to run containerd")) struct CRIClientTests {
    /// A private containerd, started on a Dispatch thread: Swift concurrency's few shared threads
    /// stay free for the gRPC calls of the tests running beside this one.
    func started(cri: Bool) async throws -> PrivateContainerd {
        struct Handed: @unchecked Sendable { var daemon: PrivateContainerd }
        return try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(with: Result { Handed(daemon: try PrivateContainerd(cri: cri)) }) }
        }.daemon
    }

    @Test func criAnswersOnContainerdsSocket() async throws {
        let daemon = try await started(cri: true)
        try await ContainerdConnection.withConnection(socket: daemon.socket, namespace: "k8s.io") { containerd in
            let version = try await containerd.criVersion()
            #expect(version.runtimeName == "containerd" && version.runtimeAPIVersion == "v1", "\(version)")

            // The first image filesystem is the CRI snapshotter's root (overlayfs by default).
            let filesystems = try await containerd.criImageFilesystems()
            #expect(filesystems.first?.hasSuffix("/root/io.containerd.snapshotter.v1.overlayfs") == true, "\(filesystems)")
            let plugins = try await containerd.snapshotterPlugins()
            let overlayfs = try #require(plugins.first { $0.id == "overlayfs" })
            #expect(overlayfs.initError == nil && overlayfs.root == filesystems.first)
            #expect(try await containerd.criPluginFailures().isEmpty)

            #expect(try await containerd.criImageStatus("kni/absent:v1") == nil)
        }
    }

    @Test func withoutCRITheServicesAreUnimplemented() async throws {
        let daemon = try await started(cri: false)
        try await ContainerdConnection.withConnection(socket: daemon.socket, namespace: "k8s.io") { containerd in
            var caught: (any Error)?
            do {
                _ = try await containerd.criImageFilesystems()
            } catch {
                caught = error
            }
            let error = try #require(caught as? RPCError)
            #expect(error.code == .unimplemented && ContainerdConnection.isCRIMissing(error), "\(error)")
            let failures = try await containerd.criPluginFailures()
            #expect(failures.isEmpty)  // disabled, not failed
            let plugins = try await containerd.snapshotterPlugins()
            #expect(plugins.contains { $0.id == "native" && $0.initError == nil })
        }
    }
}
