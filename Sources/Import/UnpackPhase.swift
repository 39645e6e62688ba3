import ContainerdAPI
import Core
import GRPCCore
import LayerApplier
import OCI
import POSIX
import Synchronization
import Tar
import Verification

/// Each layer of an image's platform into a committed snapshot named by its chain ID, as
/// containerd's unpacker does it: a chain already committed is reused (and held by the lease);
/// otherwise `Prepare`, apply, check, `Commit`.
///
/// The read pass did not decompress the layers (`LayerDecoding.deferred`): applying one
/// decodes it once, hashing the stream to its diff_id and screening every entry as `verify`
/// does, and its snapshot is committed only when that diff_id is the config's. What decoding
/// found goes to `facts`, from which the import's verdict is made.
@available(macOS 15.0, *)
struct UnpackPhase: Sendable {
    let session: ImportSession
    let snapshotter: String
    let unpacker: ImportOptions.Unpacker
    let verifier: ArchiveVerifier
    let facts: LayerFactsBook
    /// Layers the node has unpacked already, whose blobs were not spooled.
    var known = KnownLayers()
    /// The spool's directory, where a skipped blob read back from the content store goes.
    var spoolDirectory = ""
    /// Archive files not spooled as their name was a known blob's, whose bytes were another's.
    var misnamed: [String: Digest] = [:]
    var progress: (@Sendable (ImportProgress) -> Void)?

    /// Unpacks `image`; returns how many layers were unpacked and how many reused.
    /// - Parameter settle: makes the verdict and commits the content (once, whoever asks
    ///   first); a layer left to containerd's `Diff.Apply` needs it, as containerd reads the
    ///   blob from the content store.
    /// - Throws: `LayerRefused` when a layer is not what the archive says (the verdict tells
    ///   what); other errors when something else failed.
    func unpack(
        _ image: VerifiedImage, blobs: [Digest: ContentPhase.Blob], settle: @Sendable () async throws -> Void
    ) async throws -> (unpacked: Int, reused: Int) {
        let expected = image.configDiffIDs
        let chains = chainIDs(expected)
        var unpacked = 0
        var reused = 0
        for (position, layer) in image.layers.enumerated() {
            progress?(.unpacking(image: image.label, layer: position + 1, of: image.layers.count))
            let chain = chains[position]
            if let labels = try await committedLabels(chain) {
                try await session.hold(chain.description, type: "snapshots/\(snapshotter)")
                // Known to decompress to its diff_id: no second decoding (else it is decoded
                // from the spool before the verdict).
                if try await isKnown(layer, diffID: expected[position], snapshotLabels: labels) {
                    facts.record(
                        LayerFacts(diffID: expected[position], uncompressedSize: 0, entryCount: 0), for: layer.path,
                        decoded: false)
                }
                reused += 1
                continue
            }
            let key = "extract-\(UInt64.random(in: 0...UInt64.max))-\(chain.hex)"
            let mounts: [Containerd_Types_Mount]
            do {
                mounts = try await prepare(key: key, parent: position > 0 ? chains[position - 1].description : "", chain: chain)
            } catch let error as RPCError where error.code == .alreadyExists {
                // Another import committed this chain since the Stat above: use theirs.
                try await session.hold(chain.description, type: "snapshots/\(snapshotter)")
                reused += 1
                continue
            }
            if unpacked == 0 { await Failpoint.unpack.reached() }
            do {
                let blob = try await spooledBlob(layer, of: image, blobs[layer.digest])
                let target = ApplierTarget(mounts: mounts.map { .init(type: $0.type, source: $0.source, options: $0.options) })
                if unpacker == .auto, let target {
                    try apply(layer, of: image, into: target, from: blob, expecting: expected[position])
                } else {
                    try await settle()  // nothing is committed before the verdict
                    try await storeForDiffApply(layer, from: blob)
                    try await applyWithContainerd(layer, of: image, into: mounts, expecting: expected[position])
                }
            } catch {
                _ = try? await session.containerd.snapshots.remove(
                    .with {
                        $0.snapshotter = snapshotter
                        $0.key = key
                    }, metadata: session.leased)
                throw error
            }
            do {
                _ = try await session.containerd.snapshots.commit(
                    .with {
                        $0.snapshotter = snapshotter
                        $0.name = chain.description
                        $0.key = key
                        $0.labels = [Self.blobLabel: layer.digest.description, Self.diffIDLabel: expected[position].description]
                    }, metadata: session.leased)
                unpacked += 1
            } catch let error as RPCError where error.code == .alreadyExists {
                // Another import committed the same chain meanwhile: use theirs.
                _ = try? await session.containerd.snapshots.remove(
                    .with {
                        $0.snapshotter = snapshotter
                        $0.key = key
                    }, metadata: session.leased)
                try await session.hold(chain.description, type: "snapshots/\(snapshotter)")
                reused += 1
            }
        }
        return (unpacked, reused)
    }

    /// `Snapshots.Prepare` of `key` above `parent`.
    ///
    /// containerd killed in the middle of an overlayfs Prepare can leave the directory of the
    /// snapshot id it was creating on disk, never recorded (the id sequence rolled back with the
    /// transaction). Every later Prepare then picks that same id and fails with "failed to
    /// rename: rename <root>/snapshots/new-<n> <root>/snapshots/<id>: file exists" until a GC
    /// cleans the snapshotter, and containerd 1.6 offers no Cleanup call. Such a directory is
    /// no snapshot's (ids only grow), so it is removed and the Prepare tried once more.
    private func prepare(key: String, parent: String, chain: Digest) async throws -> [Containerd_Types_Mount] {
        func attempt() async throws -> [Containerd_Types_Mount] {
            try await session.containerd.snapshots.prepare(
                .with {
                    $0.snapshotter = snapshotter
                    $0.key = key
                    $0.parent = parent
                    // containerd refuses the Prepare (AlreadyExists) once this chain is committed.
                    $0.labels = ["containerd.io/snapshot.ref": chain.description]
                }, metadata: session.leased
            ).mounts
        }
        do {
            return try await attempt()
        } catch let error as RPCError {
            guard let orphan = Self.unrecordedSnapshotDirectory(in: error.message) else { throw error }
            try FileSystem.removeTree(orphan)
            return try await attempt()
        }
    }

    /// The directory an overlayfs Prepare found in its way, from its error message; nil for any
    /// other error, or when the paths are not `<dir>/snapshots/new-<n>` → `<dir>/snapshots/<digits>`.
    static func unrecordedSnapshotDirectory(in message: String) -> String? {
        guard let start = message.ranges(of: "failed to rename: rename ").last,
            let end = message[start.upperBound...].firstRange(of: ": file exists")
        else { return nil }
        let paths = message[start.upperBound..<end.lowerBound].split(separator: " ").map(String.init)
        guard paths.count == 2 else { return nil }
        func split(_ path: String) -> (parent: Substring, name: Substring)? {
            guard let slash = path.lastIndex(of: "/") else { return nil }
            return (path[..<slash], path[path.index(after: slash)...])
        }
        guard let source = split(paths[0]), let target = split(paths[1]), source.parent == target.parent,
            source.parent.hasSuffix("/snapshots"), source.parent.hasPrefix("/"), !source.parent.contains("/../"),
            source.name.hasPrefix("new-"), !target.name.isEmpty, target.name.allSatisfy(\.isASCII),
            target.name.allSatisfy(\.isNumber)
        else { return nil }
        return paths[1]
    }

    /// On a snapshot this tool committed: the layer blob it checked against the diff_id before
    /// it committed the snapshot.
    static let blobLabel = "kind-node-import.io/blob"
    /// Beside `blobLabel`: the diff_id that blob decompressed to (`KnownLayers`).
    static let diffIDLabel = "kind-node-import.io/diff-id"

    /// The layer's blob in the spool. One not spooled as the node held it unpacked is read back
    /// from the content store (with the lease's hold, from `ContentPhase`), or, where layer blobs
    /// are not kept, cannot be had: `ImportError.layerNotSpooled`.
    private func spooledBlob(_ layer: VerifiedLayer, of image: VerifiedImage, _ blob: ContentPhase.Blob?) async throws
        -> ContentPhase.Blob?
    {
        if blob?.spooled == nil, let named = misnamed[layer.path] {
            throw ImportError.fileNotSpooled(path: layer.path, named: named)
        }
        guard blob?.spooled == nil, let held = known.byBlob[layer.digest] else { return blob }
        guard held.stored else {
            throw ImportError.layerNotSpooled(image: image.label, layer: layer.index, digest: layer.digest, heldIn: held.chain)
        }
        let path = Spool.readBackPath(in: spoolDirectory, layer.digest)
        let file = try FileDescriptor.open(path, .writeOnly, options: [.create, .truncate], permissions: 0o600)
        try await session.containerd.content.read(
            request: ClientRequest(message: .with { $0.digest = layer.digest.description }, metadata: session.leased)
        ) { response in
            for try await message in response.messages {
                try message.data.withUnsafeBytes { try file.writeAll($0) }
            }
        }
        return ContentPhase.Blob(size: layer.descriptor.size, spooled: path)
    }

    /// The labels of the committed snapshot `chain`; nil when there is none.
    private func committedLabels(_ chain: Digest) async throws -> [String: String]? {
        do {
            let info = try await session.containerd.snapshots.stat(
                .with {
                    $0.snapshotter = snapshotter
                    $0.key = chain.description
                }, metadata: session.leased
            ).info
            return info.kind == .committed ? info.labels : nil
        } catch let error as RPCError where error.code == .notFound {
            return nil
        }
    }

    /// Whether the node already knows that `layer`'s blob decompresses to `diffID`: the chain's
    /// snapshot was committed by this tool from that very blob, or containerd holds the blob
    /// with that `containerd.io/uncompressed` label (set by whoever unpacked it, after the check).
    private func isKnown(_ layer: VerifiedLayer, diffID: Digest, snapshotLabels: [String: String]) async throws -> Bool {
        if snapshotLabels[Self.blobLabel] == layer.digest.description { return true }
        do {
            let info = try await session.containerd.content.info(
                .with { $0.digest = layer.digest.description }, metadata: session.leased
            ).info
            return info.labels["containerd.io/uncompressed"] == diffID.description
        } catch let error as RPCError where error.code == .notFound {
            return false
        }
    }

    /// A layer blob the content phase did not store (`discard_unpacked_layers`), written for
    /// `Diff.Apply` to read: unlabelled, held by the lease alone, so GC removes it afterwards.
    private func storeForDiffApply(_ layer: VerifiedLayer, from blob: ContentPhase.Blob?) async throws {
        do {
            _ = try await session.containerd.content.info(.with { $0.digest = layer.digest.description }, metadata: session.leased)
            return
        } catch let error as RPCError where error.code == .notFound {}
        guard let blob, let spooled = blob.spooled else { return }
        do {
            try await session.writer.write(file: spooled, size: blob.size, digest: layer.digest, labels: [:])
        } catch let error as RPCError where error.code == .alreadyExists {}
    }

    /// containerd's `Diff.Apply` (for mounts our applier does not write into): containerd reads
    /// the stored blob, applies it and returns the digest of what it applied, which must be the
    /// config's diff_id.
    private func applyWithContainerd(
        _ layer: VerifiedLayer, of image: VerifiedImage, into mounts: [Containerd_Types_Mount], expecting diffID: Digest
    ) async throws {
        let applied: Containerd_Types_Descriptor
        do {
            applied = try await session.containerd.diff.apply(
                .with {
                    $0.diff = .with {
                        $0.mediaType = layer.descriptor.mediaType ?? MediaType.dockerLayer(layer.compression)
                        $0.digest = layer.digest.description
                        $0.size = layer.descriptor.size
                    }
                    $0.mounts = mounts
                }, metadata: session.leased
            ).applied
        } catch let error as RPCError {
            throw ImportError.containerd(
                "\(image.label): containerd's Diff.Apply of layer \(layer.index + 1) \(layer.digest) failed: \(error.message) (\(error.code))")
        }
        // The blob is decoded by this tool too (from the spool, for the verdict): a difference
        // is the archive's, and the verdict names it.
        guard applied.digest == diffID.description else { throw LayerRefused() }
    }

    /// Applies one layer from the spool with this tool's applier, decoding it once: the
    /// stream is hashed to its diff_id and each entry screened before it is applied.
    private func apply(
        _ layer: VerifiedLayer, of image: VerifiedImage, into target: ApplierTarget, from blob: ContentPhase.Blob?,
        expecting diffID: Digest
    ) throws {
        guard let spooled = blob?.spooled else {
            throw ImportError.unpack(image: image.label, layer: layer.index, digest: layer.digest, reason: "not in the spool")
        }
        let screen = EntryScreen()
        let applied: AppliedLayer
        do {
            // gzip's CRC-32 is left out: the diff_id catches any damage it would.
            let application = try LayerApplication(
                root: target.root, mode: target.mode, verifyingChecksum: false, screen: screen)
            try InputFile(path: spooled).forEachChunk { try application.feed($0) }
            applied = try application.finish()
        } catch {
            // Whose fault: the layer's, as decoding it again like `verify` shows, or this machine's.
            let found = try? verifier.inspectLayer(file: spooled, path: layer.path)
            if let found, found.failure != nil || !found.entryProblems.isEmpty || found.diffID != diffID {
                facts.record(found, for: layer.path)
                throw LayerRefused()
            }
            throw ImportError.unpack(
                image: image.label, layer: layer.index, digest: layer.digest, reason: "\(error)", cause: error)
        }
        guard applied.diffID == diffID else {
            // Decoded again as `verify` decodes it, so the verdict says what it says (a CRC
            // error, say, rather than only the diff_id it led to).
            let found = try? verifier.inspectLayer(file: spooled, path: layer.path)
            facts.record(
                found ?? LayerFacts(diffID: applied.diffID, uncompressedSize: applied.uncompressedSize, entryCount: applied.entries),
                for: layer.path)
            throw LayerRefused()
        }
        facts.record(
            LayerFacts(diffID: applied.diffID, uncompressedSize: applied.uncompressedSize, entryCount: applied.entries),
            for: layer.path)
    }
}

/// A layer is not what the archive says: its diff_id, tar structure or an entry (what, the
/// import's verdict tells from `LayerFactsBook`).
struct LayerRefused: Error {}

/// What decoding each pending layer found, by its path in the archive, for the verdict. Filled
/// by the unpack and by the inspection of the layers it did not apply.
final class LayerFactsBook: Sendable {
    private let facts = Mutex<(all: [String: LayerFacts], decoded: Int)>(([:], 0))

    /// `decoded: false` for a layer the node already knew (no decoding).
    func record(_ found: LayerFacts, for path: String, decoded: Bool = true) {
        facts.withLock {
            $0.all[path] = found
            if decoded { $0.decoded += 1 }
        }
    }

    var all: [String: LayerFacts] { facts.withLock { $0.all } }
    /// How many layers were decompressed (applied or inspected).
    var decoded: Int { facts.withLock { $0.decoded } }
}

/// `verify`'s check of each layer entry (`LayerScan`), made before the applier sees the entry:
/// a hostile one stops the application.
private final class EntryScreen: TarConsumer {
    private let scan = LayerScan()

    func tarEntryBegan(_ entry: TarEntry) throws {
        try scan.tarEntryBegan(entry)
        if !scan.problems.isEmpty { throw LayerRefused() }
    }

    func tarEntryData(_ bytes: UnsafeRawBufferPointer) throws {}

    func tarEntryEnded() throws {}
}
