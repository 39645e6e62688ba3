import ArgumentParser
import ContainerdAPI
import Core
import GRPCCore
import Import
import OCI

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Which containerd a command talks to, and how the node unpacks images: the options `import`
/// and `status` share, with the node's defaults.
struct NodeOptions: ParsableArguments {
    @Option(help: "containerd's socket (env CONTAINERD_ADDRESS).")
    var address: String?

    @Option(help: "containerd namespace (env CONTAINERD_NAMESPACE).")
    var namespace: String?

    @Option(help: "Snapshotter of the unpacked layers; auto: the one CRI uses, asked of the running containerd (its config file when it runs without CRI).")
    var snapshotter: String = "auto"

    @Option(help: "containerd's config, read by --snapshotter auto when containerd runs without CRI.")
    var containerdConfig: String = NodeSnapshotter.defaultConfig

    @Option(help: "The platform whose layers are unpacked, os/arch[/variant] (default: this machine's).")
    var platform: String?

    func validate() throws {
        if let platform, Platform(parsing: platform) == nil {
            throw ValidationError("--platform must look like os/arch[/variant]; got \"\(platform)\"")
        }
    }

    var socket: String { address ?? ProcessEnvironment()["CONTAINERD_ADDRESS"] ?? "/run/containerd/containerd.sock" }
    var resolvedNamespace: String { namespace ?? ProcessEnvironment()["CONTAINERD_NAMESPACE"] ?? "k8s.io" }
    var resolvedPlatform: Platform { platform.flatMap(Platform.init(parsing:)) ?? .current }
}

extension NodeOptions {
    /// The snapshotter CRI uses on the node (`--snapshotter auto`), or the one named once
    /// containerd confirms it has loaded it. Throws `NodeSnapshotter.Failure` when the node
    /// cannot tell, containerd's errors when it cannot be reached.
    func detectSnapshotter(containerd: ContainerdConnection) async throws -> NodeSnapshotter.Detection {
        try await NodeSnapshotter.detect(snapshotter, configPath: containerdConfig, containerd: containerd)
    }

    /// Says why the snapshotter cannot be chosen; the caller exits 69.
    func snapshotterFailed(_ failure: NodeSnapshotter.Failure) -> ExitCode {
        let message =
            snapshotter == "auto"
            ? "cannot tell which snapshotter CRI uses in the containerd at \(socket): \(failure); name it with --snapshotter NAME"
            : "containerd at \(socket): \(failure)"
        return CommandFailure(.unavailable, message, cause: failure).report()
    }

    /// The snapshotter for `import`, found on a connection of its own before the archive is read.
    /// When containerd cannot be reached, the importer says so after verifying the archive
    /// (archive problems come first): the name returned then is `--snapshotter`'s value, which
    /// is never used unless containerd appears in between (and then it refuses "auto").
    func snapshotterForImport() throws -> String {
        let (socket, namespace, requested, configPath) = (self.socket, resolvedNamespace, snapshotter, containerdConfig)
        let outcome = Blocking.run {
            try await ContainerdConnection.withConnection(socket: socket, namespace: namespace) { containerd in
                try await NodeSnapshotter.detect(requested, configPath: configPath, containerd: containerd)
            }
        }
        switch outcome {
        case .success(let detection):
            return detection.name
        case .failure(let failure as NodeSnapshotter.Failure):
            throw snapshotterFailed(failure)
        case .failure(let error as RPCError) where error.code != .unavailable:
            throw CommandFailure(.unavailable, "containerd at \(socket): \(error.message) (\(error.code))", cause: error).report()
        case .failure:
            return requested
        }
    }
}

/// Variables of the process environment.
struct ProcessEnvironment {
    subscript(name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        return String(cString: value)
    }
}
