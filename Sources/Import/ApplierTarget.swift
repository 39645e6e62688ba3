import LayerApplier

/// Where and how this tool's applier writes a layer into a snapshot's mounts, decided from the
/// mounts `Snapshots.Prepare` returned: one bind mount → plain, into its source; one overlay
/// mount with an upperdir → overlay upper above its lowerdirs (`userxattr` honoured); anything
/// else (several mounts, other filesystems) is left to containerd's `Diff.Apply`.
struct ApplierTarget: Equatable {
    /// A mount as containerd describes it.
    struct Mount: Equatable {
        var type: String
        var source: String
        var options: [String]
    }

    var root: String
    var mode: ApplyMode

    /// nil when containerd's `Diff.Apply` must unpack into `mounts`.
    init?(mounts: [Mount]) {
        guard mounts.count == 1, let mount = mounts.first else { return nil }
        func option(_ name: String) -> String? {
            mount.options.first { $0.hasPrefix(name + "=") }.map { String($0.dropFirst(name.count + 1)) }
        }
        switch mount.type {
        case "bind":
            self.init(root: mount.source, mode: .plain)
        case "overlay":
            guard let upper = option("upperdir") else { return nil }
            let lowers = option("lowerdir").map { $0.split(separator: ":").map(String.init) } ?? []
            self.init(root: upper, mode: .overlayUpper(lowers: lowers, userXattr: mount.options.contains("userxattr")))
        default:
            return nil
        }
    }

    init(root: String, mode: ApplyMode) {
        self.root = root
        self.mode = mode
    }
}
