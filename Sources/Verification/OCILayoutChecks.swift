import Core
import OCI

/// An OCI layout (`index.json`, `blobs/sha256/…`): each index.json entry walked to its
/// manifests, the node's platform checked in full, the others' blobs where present, the
/// attachments by digest.
extension ImageChecks {
    mutating func checkOCILayout(crossCheck: Bool) -> [VerifiedImage] {
        guard let index: Index = decode("index.json", at: "index.json", image: nil) else { return [] }
        let dockerEntries: [DockerManifestEntry]? =
            crossCheck ? decode("manifest.json", at: "manifest.json", image: nil) : nil
        var images: [VerifiedImage] = []
        for (position, descriptor) in index.manifests.enumerated() {
            if let kind = IndexEntry.attachmentKind(descriptor) {
                // Not an image (producers that export referrers list them here): kept whole, never imported.
                _ = checkAttachment(
                    IndexWalk.Leaf(descriptor: descriptor, platform: descriptor.platform), kind: kind, among: [], image: nil)
                problems.append(
                    Problem(
                        .note, "index-entry-not-image",
                        "index.json manifests[\(position)] is a \(kind), not an image: its blobs are checked and stored, nothing is unpacked from it",
                        digest: descriptor.digest))
                continue
            }
            var image = VerifiedImage(
                names: Self.names(descriptor), source: "index.json manifests[\(position)]", target: descriptor)
            checking(&image) { checks, image in
                checks.checkTarget(descriptor, image: &image)
                if let dockerEntries { checks.crossCheckDockerManifest(dockerEntries, image: image) }
            }
            images.append(image)
        }
        if let dockerEntries {
            let configs = Set(images.compactMap(\.config?.digest))
            for (position, entry) in dockerEntries.enumerated() {
                if let config = Self.blobDigest(entry.config), !configs.contains(config) {
                    problems.append(
                        Problem(
                            .note, "docker-manifest-unmatched",
                            "manifest.json [\(position)] describes config \(config), which no index.json image uses",
                            image: entry.repoTags?.first))
                }
            }
        }
        return images
    }

    /// Names an index.json entry gives its image.
    static func names(_ descriptor: Descriptor) -> [String] {
        var names: [String] = []
        for key in [AnnotationKey.containerdImageName, AnnotationKey.ociRefName] {
            if let name = descriptor.annotations?[key], !name.isEmpty, !names.contains(name) { names.append(name) }
        }
        return names
    }

    /// Resolves an index.json entry to its platform manifests and checks them: the node's
    /// platform in full, the other platforms' blobs where present, and the manifests that are
    /// no image (attestations, artifacts) by digest only.
    private mutating func checkTarget(_ descriptor: Descriptor, image: inout VerifiedImage) {
        guard let walk = walk(from: descriptor, image: image) else { return }
        if let root = documents[descriptor.digest] {
            image.target?.mediaType = root.mediaType  // what the record will say, whether or not the entry said it
        }
        let leaves = walk.leaves
        let imageLeaves = leaves.filter { IndexEntry.attachmentKind($0.descriptor) == nil }
        defer {
            for leaf in leaves {
                guard let kind = IndexEntry.attachmentKind(leaf.descriptor) else { continue }
                image.attachments.append(checkAttachment(leaf, kind: kind, among: imageLeaves, image: image))
            }
        }
        if imageLeaves.count == 1 && !walk.rootIsIndex {
            // A single manifest: always checked in full.
            checkManifest(imageLeaves[0].descriptor, full: true, image: &image)
            if let found = image.platform, !found.matches(platform) {
                problems.append(
                    Problem(
                        .note, "platform-differs", "the image is for \(found), not for the checked platform \(platform)",
                        image: image.label))
            }
            return
        }
        guard let chosen = IndexEntry.choose(imageLeaves, for: platform, descriptor: \.descriptor, platformOf: \.platform)
        else {
            let available = imageLeaves.compactMap { $0.platform?.description }
            problems.append(
                Problem(
                    .error, "platform-not-found",
                    "the image index has no manifest for \(platform) (it has: \(available.joined(separator: ", ")))",
                    image: image.label, digest: descriptor.digest))
            return
        }
        checkManifest(chosen.descriptor, full: true, image: &image)
        for leaf in imageLeaves where leaf.descriptor.digest != chosen.descriptor.digest {
            var other = VerifiedImage(names: image.names, source: image.source, target: image.target)
            other.platform = leaf.platform
            let notesBefore = problems.count
            checkManifest(leaf.descriptor, full: false, image: &other)
            let missing = problems[notesBefore...].contains { $0.code == "platform-blob-missing" }
            image.otherPlatforms.append(
                OtherPlatform(
                    platform: leaf.platform?.description ?? "unknown", manifest: leaf.descriptor.digest,
                    complete: !missing))
        }
    }

    /// Walks nested indexes down to manifests; nil when a problem stopped the walk.
    private mutating func walk(from descriptor: Descriptor, image: VerifiedImage) -> IndexWalk? {
        var walk = IndexWalk(root: descriptor)
        do {
            while let next = try walk.next() {
                if MediaType.isIndex(next.mediaType) {
                    guard checkDescriptorBlob(next, role: "image index", full: true, image: image),
                        let document = document(next, role: "image index", image: image.label)
                    else { return nil }
                    try walk.provide(document)
                } else if contents.blob(next.digest) != nil,
                    case .kept(let bytes)? = contents.blob(next.digest)?.json,
                    let document = try? Document(decoding: bytes)
                {
                    // An entry without a media type: what its document says it is.
                    documents[next.digest] = document
                    try walk.provide(document)
                } else {
                    walk.provideUnread()  // taken for a manifest, whose check says what is wrong
                }
            }
        } catch {
            switch error {
            case .tooDeep(let digest, _):
                problems.append(Problem(.error, "index-too-deep", error.description, image: image.label, digest: digest))
            case .notAnImage(let digest, _):
                problems.append(
                    Problem(
                        .error, "unsupported-media-type", "index.json points at a \(descriptor.mediaType ?? "?"), which is no image",
                        image: image.label, digest: digest))
            }
            return nil
        }
        return walk
    }

    /// Checks a platform manifest, its config and layers. `full` is false for platforms other than
    /// the checked one: their missing blobs are notes, their present blobs must still be right.
    private mutating func checkManifest(_ descriptor: Descriptor, full: Bool, image: inout VerifiedImage) {
        image.manifest = descriptor
        if image.platform == nil { image.platform = descriptor.platform }
        guard checkDescriptorBlob(descriptor, role: "manifest", full: full, image: image),
            case .manifest(let manifest)? = document(descriptor, role: "manifest", image: image.label)
        else { return }
        image.size += descriptor.size
        image.config = manifest.config
        image.configPath = ArchiveContents.blobPath(manifest.config.digest)
        guard checkDescriptorBlob(manifest.config, role: "config", full: full, image: image),
            let config: ImageConfig = decode(
                "config", at: ArchiveContents.blobPath(manifest.config.digest), image: image.label)
        else { return }
        image.imageConfig = config
        image.size += manifest.config.size
        if let configPlatform = config.platform { image.platform = configPlatform }
        let label = image.label
        let platformText = image.platform?.description
        for (position, layer) in manifest.layers.enumerated() {
            let context = LayerContext(
                image: label, platform: platformText, index: position, count: manifest.layers.count,
                digest: layer.digest)
            guard checkDescriptorBlob(layer, role: "layer", full: full, image: image, layer: context),
                let blob = contents.blob(layer.digest)
            else { continue }
            if let checked = checkLayer(blob, descriptor: layer, context: context) {
                image.layers.append(checked)
                image.size += blob.size
                image.uncompressedSize += checked.uncompressedSize
            }
        }
        if config.rootfs.type != "layers" {
            problems.append(
                Problem(
                    .error, "config-bad-rootfs", "the config's rootfs.type is not \"layers\"", image: label,
                    platform: platformText, digest: manifest.config.digest, expected: "layers",
                    found: config.rootfs.type))
        }
        compareDiffIDs(
            layerCount: manifest.layers.count, diffIDs: config.rootfs.diffIDs, found: image.layers, image: label,
            platform: platformText, describedBy: "the manifest \(descriptor.digest)")
    }
}
