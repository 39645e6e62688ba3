// What containerd's CRI plugin (the runtime.v1 services kubelet calls, served on containerd's own
// socket) and its plugin list say, as small Swift values: no generated type leaves this module
// through these calls.

import GRPCCore

/// An image as CRI reports it to kubelet (`runtime.v1.Image`).
public struct CRIImage: Sendable, Codable, Equatable {
    /// The image ID: `sha256:` of the config.
    public var id: String
    public var repoTags: [String]
    public var repoDigests: [String]
    public var size: UInt64
    public var pinned: Bool

    public init(id: String, repoTags: [String], repoDigests: [String], size: UInt64, pinned: Bool) {
        self.id = id
        self.repoTags = repoTags
        self.repoDigests = repoDigests
        self.size = size
        self.pinned = pinned
    }
}

/// The CRI runtime's version (`runtime.v1.RuntimeService/Version`).
public struct CRIVersion: Sendable, Equatable {
    /// e.g. "containerd".
    public var runtimeName: String
    /// e.g. "v1.6.20" or "v2.3.4".
    public var runtimeVersion: String
    /// e.g. "v1".
    public var runtimeAPIVersion: String
}

/// A snapshotter plugin of containerd (introspection, type `io.containerd.snapshotter.v1`).
public struct SnapshotterPlugin: Sendable, Equatable {
    /// The snapshotter's name: overlayfs, native, fuse-overlayfs…
    public var id: String
    /// The directory it exports as `root`; proxy plugins (fuse-overlayfs) export none.
    public var root: String?
    /// Why it failed to load, when it did (it is listed but cannot be used).
    public var initError: String?

    public init(id: String, root: String?, initError: String?) {
        self.id = id
        self.root = root
        self.initError = initError
    }

    public static let pluginType = "io.containerd.snapshotter.v1"
}

@available(macOS 15.0, iOS 18.0, watchOS 11.0, tvOS 18.0, visionOS 2.0, *)
extension ContainerdConnection {
    /// CRI's image service (what kubelet asks about images). CRI ignores containerd namespaces:
    /// it sees namespace k8s.io only.
    public var criImages: Runtime_V1_ImageService.Client<Transport> { .init(wrapping: client) }
    /// CRI's runtime service (Version only).
    public var criRuntime: Runtime_V1_RuntimeService.Client<Transport> { .init(wrapping: client) }

    /// The mount points of CRI's image filesystems (`ImageFsInfo`); the first is the CRI
    /// snapshotter's root, the one kubelet reads. Throws `unimplemented` when containerd runs
    /// without its CRI plugin.
    public func criImageFilesystems() async throws -> [String] {
        try await Self.retryingWhileCRIStarts {
            try await criImages.imageFsInfo(.init()).imageFilesystems.map(\.fsID.mountpoint)
        }
    }

    /// What kubelet's "is the image present?" question gets (`ImageStatus`): the image, or nil
    /// when CRI does not know it. `image` is a name as a pod names it (CRI normalizes it), an
    /// image ID or a `name@sha256:` reference.
    public func criImageStatus(_ image: String) async throws -> CRIImage? {
        let response = try await Self.retryingWhileCRIStarts {
            try await criImages.imageStatus(.with { $0.image.image = image })
        }
        guard response.hasImage, !response.image.id.isEmpty else { return nil }
        let found = response.image
        return CRIImage(
            id: found.id, repoTags: found.repoTags, repoDigests: found.repoDigests, size: found.size, pinned: found.pinned)
    }

    /// CRI's `Version`.
    public func criVersion() async throws -> CRIVersion {
        let response = try await Self.retryingWhileCRIStarts {
            try await criRuntime.version(.with { $0.version = "v1" })
        }
        return CRIVersion(
            runtimeName: response.runtimeName, runtimeVersion: response.runtimeVersion,
            runtimeAPIVersion: response.runtimeApiVersion)
    }

    /// Every snapshotter plugin containerd lists, loaded or not.
    public func snapshotterPlugins() async throws -> [SnapshotterPlugin] {
        try await introspection.plugins(.with { $0.filters = ["type==\(SnapshotterPlugin.pluginType)"] }).plugins
            .filter { $0.type == SnapshotterPlugin.pluginType }
            .map { plugin in
                SnapshotterPlugin(
                    id: plugin.id, root: plugin.exports["root"].flatMap { $0.isEmpty ? nil : $0 },
                    initError: plugin.hasInitErr ? plugin.initErr.message : nil)
            }
    }

    /// CRI's plugins that containerd lists as failed to load ("<type>.<id>: <error>"): 1.6's
    /// `io.containerd.grpc.v1.cri`, 2.x's `io.containerd.cri.v1.images` and `.runtime` too.
    /// Empty when CRI loaded, or is disabled (a disabled plugin is not listed).
    public func criPluginFailures() async throws -> [String] {
        try await introspection.plugins(.with { $0.filters = ["type==io.containerd.grpc.v1,id==cri", "type==io.containerd.cri.v1"] })
            .plugins
            .filter { $0.hasInitErr }
            .map { "\($0.type).\($0.id): \($0.initErr.message)" }
    }

    /// Whether `error` says that containerd runs without CRI (its plugin disabled or not
    /// loaded): the runtime.v1 services are then unknown to its gRPC server.
    public static func isCRIMissing(_ error: any Error) -> Bool {
        (error as? RPCError)?.code == .unimplemented
    }

    /// CRI answers "server is not initialized yet" (1.6: unknown, 2.x: unavailable) for a moment
    /// after containerd starts serving: ask again for up to `seconds`.
    static func retryingWhileCRIStarts<Result: Sendable>(
        seconds: Double = 10, _ call: () async throws -> Result
    ) async throws -> Result {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while true {
            do {
                return try await call()
            } catch let error as RPCError where error.message.contains("not initialized") && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }
}
