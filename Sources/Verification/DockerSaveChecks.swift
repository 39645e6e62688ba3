import Core
import OCI

/// docker save's `manifest.json`: the images of a docker save ≤ 24 archive, and the second
/// description of a Docker ≥ 25 one, compared with its OCI side (Docker 25.0.0's defect).
extension ImageChecks {
    mutating func checkDockerSave() -> [VerifiedImage] {
        guard let entries: [DockerManifestEntry] = decode("manifest.json", at: "manifest.json", image: nil) else {
            return []
        }
        return entries.enumerated().map { position, entry in
            var image = VerifiedImage(names: entry.repoTags ?? [], source: "manifest.json [\(position)]", target: nil)
            image.dockerEntry = entry
            checking(&image) { checks, image in checks.checkDockerSaveEntry(entry, image: &image) }
            return image
        }
    }

    private mutating func checkDockerSaveEntry(_ entry: DockerManifestEntry, image: inout VerifiedImage) {
        guard let configFile = contents.file(at: entry.config) else {
            problems.append(
                Problem(
                    .error, "blob-missing", "the config file named by manifest.json is not in the archive",
                    image: image.label, path: entry.config))
            return
        }
        image.config = Descriptor(mediaType: MediaType.dockerConfig, digest: configFile.digest, size: configFile.size)
        image.configPath = configFile.path
        image.size += configFile.size
        // docker save names the config after its digest (`<hex>.json`); blobs/ paths were checked already.
        if let named = Self.blobDigest(entry.config), !entry.config.hasPrefix("blobs/"), named != configFile.digest {
            problems.append(
                Problem(
                    .error, "blob-digest-mismatch", "the config's bytes do not hash to its file name",
                    image: image.label, path: entry.config, expected: named.description,
                    found: configFile.digest.description))
        }
        guard let config: ImageConfig = decode("config", at: configFile.path, image: image.label) else { return }
        image.imageConfig = config
        image.platform = config.platform
        let platformText = image.platform?.description
        for (position, path) in entry.layers.enumerated() {
            guard let blob = contents.file(at: path) else {
                problems.append(
                    Problem(
                        .error, "blob-missing", "the layer file named by manifest.json is not in the archive",
                        image: image.label, platform: platformText, layer: position, layerCount: entry.layers.count,
                        path: path))
                continue
            }
            let context = LayerContext(
                image: image.label, platform: platformText, index: position, count: entry.layers.count,
                digest: blob.digest)
            let descriptor = Descriptor(mediaType: nil, digest: blob.digest, size: blob.size)
            if let checked = checkLayer(blob, descriptor: descriptor, context: context) {
                image.layers.append(checked)
                image.size += blob.size
                image.uncompressedSize += checked.uncompressedSize
            }
        }
        compareDiffIDs(
            layerCount: entry.layers.count, diffIDs: config.rootfs.diffIDs, found: image.layers, image: image.label,
            platform: platformText, describedBy: "manifest.json")
    }

    /// Compares the OCI description of an image with the legacy manifest.json one. Docker 25.0.0
    /// wrote OCI manifests whose layers disagree with the config (moby#47150, moby#47065) next to
    /// a correct manifest.json; containerd reads only the OCI side.
    mutating func crossCheckDockerManifest(_ entries: [DockerManifestEntry], image: VerifiedImage) {
        guard let configDigest = image.config?.digest, let manifestDigest = image.manifest?.digest,
            let config = image.imageConfig,
            let entry = entries.first(where: { Self.blobDigest($0.config) == configDigest })
        else { return }
        let legacyDiffIDs = entry.layers.map { contents.file(at: $0)?.layer?.diffID }
        let legacyConsistent = legacyDiffIDs.count == config.rootfs.diffIDs.count
            && zip(legacyDiffIDs, config.rootfs.diffIDs).allSatisfy { $0 == $1 }
        let ociDiffIDs = image.layers.sorted { $0.index < $1.index }.map(\.diffID)
        let ociConsistent = ociDiffIDs.count == config.rootfs.diffIDs.count
            && zip(ociDiffIDs, config.rootfs.diffIDs).allSatisfy { $0 == $1 }
        let platform = image.platform?.description
        switch (ociConsistent, legacyConsistent) {
        case (false, true):
            problems.append(
                Problem(
                    .error, "docker25-manifest-defect",
                    "the OCI manifest \(manifestDigest) that index.json points at disagrees with the config's rootfs.diff_ids, while manifest.json lists the \(config.rootfs.diffIDs.count) layers consistently. This is the defect of Docker 25.0.0's `docker save` (moby#47150, moby#47065): save the image again with Docker ≥ 25.0.1 (manifest.json's description is the consistent one)",
                    image: image.label, platform: platform))
        case (true, false):
            problems.append(
                Problem(
                    .error, "docker-manifest-inconsistent",
                    "manifest.json's layers for config \(configDigest) disagree with the config's rootfs.diff_ids, while the OCI manifest \(manifestDigest) is consistent",
                    image: image.label, platform: platform))
        default:
            break
        }
    }
}
