import Core
import OCI

/// What to import and where.
public struct ImportOptions: Sendable {
    public var socket: String
    public var namespace: String
    public var snapshotter: String
    public var platform: Platform
    public var digestNames: Bool
    /// How long containerd keeps what an interrupted import wrote before GC may collect it.
    public var leaseExpiry: Int
    /// Import a Docker 25.0.0 archive as its consistent manifest.json describes it.
    public var repair: Bool
    /// Who unpacks layers into snapshots.
    public var unpacker: Unpacker
    /// Store each blob while the rest of the archive is read (under the lease, its digest
    /// checked, referenced by nothing until the whole archive verified) instead of after.
    public var storeWhileReading: Bool
    /// Don't copy to the spool the layer blobs the node has unpacked already (`KnownLayers`).
    public var skipKnownLayers: Bool = true
    /// containerd's `discard_unpacked_layers`: layer blobs are not kept once unpacked. They are
    /// not sent to the content store at all (unless containerd's `Diff.Apply` must read one),
    /// and manifests get no GC reference to them, as containerd's own discard leaves them.
    public var discardLayers: Bool
    /// Told of the lease, the spool and the commit, for a signal handler to undo the import.
    public var interruption: ImportInterruption?

    public enum Unpacker: String, Sendable, CaseIterable {
        /// Our applier for bind and overlay mounts (native, overlayfs), containerd's
        /// `Diff.Apply` for any other mount.
        case auto
        /// containerd's `Diff.Apply` for every layer.
        case containerd
    }

    public init(
        socket: String, namespace: String, snapshotter: String, platform: Platform, digestNames: Bool,
        leaseExpiry: Int = 3600, repair: Bool = false, unpacker: Unpacker = .auto, storeWhileReading: Bool = true,
        discardLayers: Bool = false, interruption: ImportInterruption? = nil
    ) {
        self.discardLayers = discardLayers
        self.interruption = interruption
        self.storeWhileReading = storeWhileReading
        self.repair = repair
        self.unpacker = unpacker
        self.socket = socket
        self.namespace = namespace
        self.snapshotter = snapshotter
        self.platform = platform
        self.digestNames = digestNames
        self.leaseExpiry = leaseExpiry
    }
}

/// What an import did, per image.
public struct ImportedImage: Sendable {
    public var names: [String]
    /// What the records point at: the archive's index or manifest (docker-save: the manifest written).
    public var target: Descriptor
    public var platform: Platform?
    public var layersUnpacked: Int
    public var layersReused: Int
}

public struct ImportSummary: Sendable {
    public var images: [ImportedImage]
    public var blobsStored: Int
    public var blobsPresent: Int
    /// Layers decompressed (to be applied, or checked); the others the node already knew.
    public var layersDecoded = 0
    /// Layer blobs only hashed, not spooled: the node had unpacked them (`KnownLayers`).
    public var layersNotSpooled = 0
    /// False under `discard_unpacked_layers`: no layer blob was kept.
    public var layerBlobsKept = true
    /// Wall time of each phase, in the order they started (phases may overlap).
    public var phases: [PhaseTime] = []
    /// What the user should know about how the archive was read (a repair, what it lacks).
    public var notes: [String] = []
}

/// What an import is doing, for a progress line.
public enum ImportProgress: Sendable {
    /// Bytes of the archive read (and verified) so far.
    case read(Int64)
    /// Blobs in containerd's content store so far, of all the import stores.
    case stored(Int, of: Int)
    /// Layer `layer` (1-based) of `of` of an image is being unpacked.
    case unpacking(image: String, layer: Int, of: Int)
}

/// How long one phase of an import took.
public struct PhaseTime: Sendable, Codable {
    public var phase: String
    public var seconds: Double
}

/// Why an import stopped. Nothing it created stays visible: the lease is deleted and no image
/// record was created or changed (or every one was restored).
public enum ImportError: Error, CustomStringConvertible {
    /// containerd cannot be reached or refused a call.
    case containerd(String)
    /// Applying a layer failed; `cause` is what failed (the applier's error, which carries the
    /// system call's errno and path when one failed), nil when the layer itself is at fault.
    case unpack(image: String, layer: Int, digest: Digest, reason: String, cause: (any Error)? = nil)
    /// The archive uses something this importer does not handle yet.
    case unsupported(String)
    /// A layer blob was not spooled, as the node held it unpacked (`KnownLayers`), but this
    /// image stacks it on other layers and the blob is not kept: `--spool-all` imports it.
    case layerNotSpooled(image: String, layer: Int, digest: Digest, heldIn: Digest)
    /// A file was not spooled, as its name is that of a layer blob the node holds unpacked, but
    /// its bytes are another blob's: `--spool-all` imports it.
    case fileNotSpooled(path: String, named: Digest)

    public var description: String {
        switch self {
        case .containerd(let message): return "containerd: \(message)"
        case .unpack(let image, let layer, let digest, let reason, _):
            return "\(image): layer \(layer + 1) \(digest): \(reason)"
        case .unsupported(let what): return what
        case .fileNotSpooled(let path, let named):
            return
                "\(path) was not copied while the archive was read, as its name is that of a layer this node has unpacked (\(named)), but it holds other bytes: import again with --spool-all"
        case .layerNotSpooled(let image, let layer, let digest, let chain):
            return
                "\(image): layer \(layer + 1) \(digest) was not copied while the archive was read, as this node has it unpacked (snapshot \(chain)); this image stacks it on other layers, and its blob is not kept (discard_unpacked_layers): import again with --spool-all"
        }
    }
}
