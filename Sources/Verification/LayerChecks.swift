import Compression
import Core
import OCI

/// One layer blob against what names it, and a manifest's layers against its config.
extension ImageChecks {
    /// Decompression, tar structure, hostile entries and media type of one layer blob; nil when
    /// the blob is no layer at all. `descriptor` is the manifest's (docker save: the file's
    /// digest and size, no media type).
    mutating func checkLayer(_ blob: BlobRecord, descriptor: Descriptor, context: LayerContext) -> VerifiedLayer? {
        func problem(_ code: String, _ message: String, path: String? = nil, expected: String? = nil, found: String? = nil)
            -> Problem
        {
            Problem(
                .error, code, message, image: context.image, platform: context.platform, layer: context.index,
                layerCount: context.count, digest: context.digest, path: path, expected: expected, found: found)
        }
        if let mediaType = descriptor.mediaType {
            if let announced = MediaType.layerCompression(mediaType) {
                if announced != blob.compression {
                    problems.append(
                        problem(
                            "layer-media-type-mismatch",
                            "the media type \(mediaType) announces \(announced) data, the blob's first bytes say \(blob.compression)",
                            expected: announced.rawValue, found: blob.compression.rawValue))
                }
            } else {
                problems.append(problem("unsupported-media-type", "\(mediaType) is not a layer media type"))
            }
        }
        guard let facts = blob.layer else {
            problems.append(problem("layer-not-tar", "the layer is neither a tar stream nor gzip or zstd compressed"))
            return nil
        }
        if let failure = facts.failure {
            problems.append(problem("layer-unreadable", "the layer cannot be read to its end: \(failure)"))
        }
        for entry in facts.entryProblems {
            problems.append(problem(entry.kind.rawValue, "hostile or invalid layer entry: \(entry.detail)", path: entry.path))
        }
        return VerifiedLayer(
            index: context.index, descriptor: descriptor, compression: blob.compression, path: blob.path,
            diffID: facts.diffID, uncompressedSize: facts.uncompressedSize, entries: facts.entryCount,
            pending: facts.pending)
    }

    /// Layer count and per-position diff_ids of a manifest (or manifest.json entry) against its config.
    mutating func compareDiffIDs(
        layerCount: Int, diffIDs: [Digest], found layers: [VerifiedLayer], image: String, platform: String?,
        describedBy source: String
    ) {
        if layerCount != diffIDs.count {
            problems.append(
                Problem(
                    .error, "layer-count-mismatch",
                    "\(source) lists \(layerCount) layers but the config's rootfs.diff_ids has \(diffIDs.count) entries (\"mismatched image rootfs and manifest layers\")",
                    image: image, platform: platform, expected: "\(diffIDs.count) layers",
                    found: "\(layerCount) layers"))
            return
        }
        let byIndex = Dictionary(layers.map { ($0.index, $0) }, uniquingKeysWith: { first, _ in first })
        var mismatches = 0
        for (position, expected) in diffIDs.enumerated() {
            guard let layer = byIndex[position], let actual = layer.diffID, actual != expected else { continue }
            mismatches += 1
            problems.append(
                Problem(
                    .error, "diff-id-mismatch",
                    "the layer's uncompressed content does not match the config's rootfs.diff_ids[\(position)]",
                    image: image, platform: platform, layer: position, layerCount: diffIDs.count,
                    digest: layer.digest, expected: expected.description, found: actual.description))
        }
        let actual = layers.compactMap(\.diffID)
        if mismatches > 0, actual.count == diffIDs.count, actual.sorted() == diffIDs.sorted() {
            problems.append(
                Problem(
                    .error, "layer-order-mismatch",
                    "\(source) has the right layers in the wrong order (\"wrong diff id calculated on extraction\")",
                    image: image, platform: platform))
        }
    }
}
