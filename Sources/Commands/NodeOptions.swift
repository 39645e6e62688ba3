import ArgumentParser
import Core
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

    @Option(help: "Snapshotter of the unpacked layers; auto: the CRI snapshotter of the node's containerd config, else overlayfs.")
    var snapshotter: String = "auto"

    @Option(help: "containerd's config, read by --snapshotter auto.")
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
    var resolvedSnapshotter: String {
        snapshotter == "auto" ? NodeSnapshotter.detect(configPath: containerdConfig) : snapshotter
    }
    var resolvedPlatform: Platform { platform.flatMap(Platform.init(parsing:)) ?? .current }
}

/// Variables of the process environment.
struct ProcessEnvironment {
    subscript(name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        return String(cString: value)
    }
}
