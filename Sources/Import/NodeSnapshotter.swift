import ContainerdAPI
import Core
import GRPCCore
import POSIX

/// Which snapshotter CRI unpacks images with on a node: the one an import must use, and whose
/// snapshots `status` looks for. Asked of the running containerd first, so it is what CRI really
/// uses whatever its config says and however containerd migrated it:
///
/// 1. CRI's `ImageFsInfo`: the first image filesystem is the CRI snapshotter's root (containerd
///    1.6: `<root>/io.containerd.snapshotter.v1.<name>`; 2.x: the snapshotter's exported root,
///    else that same path), matched against the snapshotter plugins containerd has loaded.
/// 2. Only when containerd runs without CRI (its plugin disabled, not failed): containerd's
///    config file (versions 1 to 4; a missing file means containerd's default, overlayfs).
///
/// An explicit name is used as given once containerd confirms it has loaded it. When the node
/// cannot tell (a filesystem that is no snapshotter's root, an unreadable or unparseable config,
/// a name containerd has not loaded), the error says what was found.
public enum NodeSnapshotter {
    /// containerd's default snapshotter on Linux, and the one CRI uses unless configured.
    public static let containerdDefault = "overlayfs"
    public static let defaultConfig = "/etc/containerd/config.toml"

    /// The snapshotter to use and how it was found.
    public struct Detection: Sendable, Equatable {
        public var name: String
        /// Where the name came from, for messages: "CRI's image filesystem /var/lib/…", …
        public var source: String
    }

    /// The node cannot tell which snapshotter CRI uses, or the one named is not loaded.
    public struct Failure: Error, CustomStringConvertible, Equatable {
        public var description: String
        init(_ description: String) { self.description = description }
    }

    /// The snapshotter for `requested` ("auto" or a name) on the containerd behind `containerd`.
    /// Throws `Failure` when it cannot tell, and containerd's own errors (`RPCError`) when
    /// containerd cannot be reached.
    @available(macOS 15.0, *)
    public static func detect(
        _ requested: String, configPath: String = defaultConfig, containerd: ContainerdConnection
    ) async throws -> Detection {
        let plugins = try await containerd.snapshotterPlugins()
        if requested != "auto" {
            try checkLoaded(requested, plugins: plugins, namedBy: "--snapshotter")
            return Detection(name: requested, source: "--snapshotter")
        }
        let mountpoints: [String]
        do {
            mountpoints = try await containerd.criImageFilesystems()
        } catch let error where ContainerdConnection.isCRIMissing(error) {
            // Disabled, or failed to load (then its error says why, e.g. an unknown snapshotter).
            let failures = try await containerd.criPluginFailures()
            guard failures.isEmpty else {
                throw Failure("containerd's CRI plugin failed to load (\(failures.joined(separator: "; ")))")
            }
            let answer = try readConfig(path: configPath)
            try checkLoaded(answer.name, plugins: plugins, namedBy: answer.source)
            return Detection(name: answer.name, source: answer.source + " (containerd runs without CRI)")
        } catch let error as RPCError where error.code != .unavailable || error.message.contains("not initialized") {
            // containerd answered (an unreachable one is the caller's to report).
            throw Failure("CRI's ImageFsInfo failed: \(error.message) (\(error.code))")
        }
        guard let mountpoint = mountpoints.first, !mountpoint.isEmpty else {
            throw Failure("CRI's ImageFsInfo named no image filesystem")
        }
        return Detection(
            name: try fromCRI(mountpoint: mountpoint, plugins: plugins), source: "CRI's image filesystem \(mountpoint)")
    }

    /// The snapshotter whose root is CRI's image filesystem `mountpoint`: the loaded one that
    /// exports it as its root, else the one its last component names
    /// (`io.containerd.snapshotter.v1.<name>`, as 1.6 always builds it and 2.x does for
    /// snapshotters that export no root, such as proxy plugins).
    public static func fromCRI(mountpoint: String, plugins: [SnapshotterPlugin]) throws(Failure) -> String {
        let path = trimmingSlashes(mountpoint)
        if let owner = plugins.first(where: { $0.initError == nil && $0.root.map(trimmingSlashes) == path }) {
            return owner.id
        }
        let prefix = SnapshotterPlugin.pluginType + "."
        let last = path.split(separator: "/").last.map(String.init) ?? ""
        guard last.hasPrefix(prefix), last.count > prefix.count else {
            throw Failure(
                "CRI's image filesystem \(mountpoint) is the root of no snapshotter containerd has loaded (\(loadedList(plugins)))")
        }
        let name = String(last.dropFirst(prefix.count))
        try checkLoaded(name, plugins: plugins, namedBy: "CRI's image filesystem \(mountpoint)")
        return name
    }

    static func checkLoaded(_ name: String, plugins: [SnapshotterPlugin], namedBy source: String) throws(Failure) {
        guard let plugin = plugins.first(where: { $0.id == name }) else {
            throw Failure("\(source) names snapshotter \(name), which containerd has not loaded (\(loadedList(plugins)))")
        }
        if let initError = plugin.initError {
            throw Failure("\(source) names snapshotter \(name), which failed to load in containerd: \(initError)")
        }
    }

    static func loadedList(_ plugins: [SnapshotterPlugin]) -> String {
        let loaded = plugins.filter { $0.initError == nil }
        guard !loaded.isEmpty else { return "it has loaded none" }
        return "loaded: " + loaded.map { plugin in plugin.root.map { "\(plugin.id) at \($0)" } ?? plugin.id }.joined(separator: ", ")
    }

    private static func trimmingSlashes(_ path: String) -> String {
        var path = Substring(path)
        while path.count > 1 && path.hasSuffix("/") { path = path.dropLast() }
        return String(path)
    }

    // MARK: containerd's config file (only when containerd runs without CRI)

    /// What a config file says about the CRI snapshotter.
    public struct ConfigAnswer: Sendable, Equatable {
        public var name: String
        /// CRI's `discard_unpacked_layers`: layer blobs are not kept once unpacked (kind sets it).
        public var discardUnpackedLayers = false
        /// The config's `version` (1 when it has none, as containerd reads it).
        public var version: Int
        /// Where it came from, for messages: "containerd's config PATH (version N)".
        public var source: String
    }

    /// Reads `path`; a missing file means containerd's defaults.
    public static func readConfig(path: String) throws(Failure) -> ConfigAnswer {
        let text: String
        do {
            text = String(decoding: try FileSystem.readFile(path, limit: 16 << 20), as: UTF8.self)
        } catch where error.errno == .noSuchFileOrDirectory {
            return ConfigAnswer(
                name: containerdDefault, version: 0, source: "containerd's default (there is no \(path))")
        } catch {
            throw Failure("cannot read containerd's config: \(error)")
        }
        do {
            var answer = try fromConfig(text)
            answer.source = "containerd's config \(path) (version \(answer.version))"
            return answer
        } catch {
            throw Failure("containerd's config \(path): \(error.description)")
        }
    }

    /// The CRI snapshotter a config's text sets, containerd's default when it sets none.
    ///
    /// - version 1 (or none): `[plugins.cri.containerd] snapshotter`
    /// - version 2: `[plugins."io.containerd.grpc.v1.cri".containerd] snapshotter` (containerd
    ///   2.x migrates it to the next one; kind writes version 2 files)
    /// - versions 3 and 4: `[plugins."io.containerd.cri.v1.images"] snapshotter`
    ///
    /// `discard_unpacked_layers` is read from the same tables.
    public static func fromConfig(_ text: String) throws(Failure) -> ConfigAnswer {
        let toml: TOMLReader
        do {
            toml = try TOMLReader(text)
        } catch {
            throw Failure("not valid TOML at \(error)")
        }
        let version: Int
        switch toml["version"] {
        case nil: version = 1
        case .integer(let number): version = number
        default: throw Failure("version is not an integer")
        }
        let v1 = ["plugins", "cri", "containerd", "snapshotter"]
        let v2 = ["plugins", "io.containerd.grpc.v1.cri", "containerd", "snapshotter"]
        let v3 = ["plugins", "io.containerd.cri.v1.images", "snapshotter"]
        let candidates: [[String]]
        switch version {
        case 1: candidates = [v1, v2]
        // containerd 2.x reads a version 2 file's CRI images table too, under the migrated one.
        case 2: candidates = [v2, v3]
        case 3, 4: candidates = [v3]
        default: throw Failure("version \(version) is not one this tool reads (1 to 4)")
        }
        var answer = ConfigAnswer(name: containerdDefault, version: version, source: "")
        for path in candidates {
            switch toml.values[path] {
            case nil: continue
            case .string(let name) where name.isEmpty: continue
            case .string(let name): answer.name = name
            default: throw Failure("\(path.dropLast().map(tableComponent).joined(separator: ".")) snapshotter is not a string")
            }
            break
        }
        // discard_unpacked_layers sits beside snapshotter in each version's table.
        for path in candidates {
            switch toml.values[path.dropLast() + ["discard_unpacked_layers"]] {
            case nil: continue
            case .boolean(let discard): answer.discardUnpackedLayers = discard
            default:
                throw Failure("\(path.dropLast().map(tableComponent).joined(separator: ".")) discard_unpacked_layers is not a boolean")
            }
            break
        }
        return answer
    }

    private static func tableComponent(_ key: String) -> String {
        key.contains(".") ? "\"\(key)\"" : key
    }
}
