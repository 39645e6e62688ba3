import Core
import OCI
import Verification

/// The labels containerd's garbage collector follows from a blob to what it keeps alive, as
/// ctr's import sets them: index → its manifests, manifest → config and layers, config → the
/// top snapshot of the unpacked platform, layer → its diff_id.
enum GCLabels {
    /// The references of an index or a manifest; `layers: false` leaves a manifest's layers
    /// out, as containerd's CRI does for `discard_unpacked_layers` (`ChildGCLabelsFilterLayers`).
    static func references(of document: Document, layers: Bool = true) -> [String: String] {
        var labels: [String: String] = [:]
        switch document {
        case .index(let index):
            for (position, child) in index.manifests.enumerated() {
                labels["containerd.io/gc.ref.content.m.\(position)"] = child.digest.description
            }
        case .manifest(let manifest):
            labels["containerd.io/gc.ref.content.config"] = manifest.config.digest.description
            for (position, layer) in manifest.layers.enumerated() where layers {
                labels["containerd.io/gc.ref.content.l.\(position)"] = layer.digest.description
            }
        }
        return labels
    }

    /// Layers → their diff_id (`containerd.io/uncompressed`; not with `layers: false`, whose
    /// blobs are not stored); config → the top chain ID's snapshot in `snapshotter`.
    static func unpacked(_ image: VerifiedImage, snapshotter: String, layers: Bool = true) -> [Digest: [String: String]] {
        var labels: [Digest: [String: String]] = [:]
        for layer in image.layers where layers {
            if let diffID = layer.diffID { labels[layer.digest, default: [:]]["containerd.io/uncompressed"] = diffID.description }
        }
        if let config = image.config?.digest, let top = chainIDs(image.diffIDs).last {
            labels[config, default: [:]]["containerd.io/gc.ref.snapshot.\(snapshotter)"] = top.description
        }
        return labels
    }

    /// `labels` with `more` added (the same key: `more` wins).
    static func merge(_ labels: inout [Digest: [String: String]], _ more: [Digest: [String: String]]) {
        for (digest, set) in more { labels[digest, default: [:]].merge(set) { _, new in new } }
    }
}
