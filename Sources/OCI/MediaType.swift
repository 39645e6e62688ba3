import Compression

/// Media types of OCI image-spec (`media-types.md`) and of Docker's distribution
/// manifest v2 schema 2, which containerd treats as equivalent.
public enum MediaType {
    public static let ociIndex = "application/vnd.oci.image.index.v1+json"
    public static let ociManifest = "application/vnd.oci.image.manifest.v1+json"
    public static let ociConfig = "application/vnd.oci.image.config.v1+json"
    public static let ociLayer = "application/vnd.oci.image.layer.v1.tar"
    public static let ociLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip"
    public static let ociLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd"
    public static let ociLayerNondistributable = "application/vnd.oci.image.layer.nondistributable.v1.tar"
    public static let ociLayerNondistributableGzip = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
    public static let ociLayerNondistributableZstd = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"

    public static let dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
    public static let dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
    public static let dockerConfig = "application/vnd.docker.container.image.v1+json"
    public static let dockerLayer = "application/vnd.docker.image.rootfs.diff.tar"
    public static let dockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip"
    public static let dockerLayerZstd = "application/vnd.docker.image.rootfs.diff.tar.zstd"
    public static let dockerForeignLayerGzip = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

    public static func isIndex(_ type: String?) -> Bool {
        type == ociIndex || type == dockerManifestList
    }

    public static func isManifest(_ type: String?) -> Bool {
        type == ociManifest || type == dockerManifest
    }

    /// Whether the media type names a layer (any compression).
    public static func isLayer(_ type: String) -> Bool {
        layerCompression(type) != nil
    }

    /// The compression a layer media type announces; nil when the type is not a layer type
    /// this tool knows.
    public static func layerCompression(_ type: String) -> Compression? {
        switch type {
        case ociLayer, ociLayerNondistributable, dockerLayer: return Compression.none
        case ociLayerGzip, ociLayerNondistributableGzip, dockerLayerGzip, dockerForeignLayerGzip: return .gzip
        case ociLayerZstd, ociLayerNondistributableZstd, dockerLayerZstd: return .zstd
        default: return nil
        }
    }

    /// The Docker schema 2 layer media type of a compression (what ctr writes for docker save's
    /// layers; zstd has no Docker type that containerd's differ takes, so OCI's).
    public static func dockerLayer(_ compression: Compression) -> String {
        switch compression {
        case .none: return dockerLayer
        case .gzip: return dockerLayerGzip
        case .zstd: return ociLayerZstd
        }
    }
}

/// Annotation keys that carry image names in an OCI layout's `index.json`.
public enum AnnotationKey {
    /// containerd's full image name (`ctr images export`, Docker ≥ 25).
    public static let containerdImageName = "io.containerd.image.name"
    /// OCI's reference name: a tag (skopeo, Docker) or a full reference.
    public static let ociRefName = "org.opencontainers.image.ref.name"
}
