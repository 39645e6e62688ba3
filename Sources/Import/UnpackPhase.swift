import ContainerdAPI
import Core
import GRPCCore
import LayerApplier
import OCI
import Verification

/// Each layer of an image's platform into a committed snapshot named by its chain ID, as
/// containerd's unpacker does it: a chain already committed is reused (and held by the lease);
/// otherwise `Prepare`, apply, check, `Commit`.
@available(macOS 15.0, *)
struct UnpackPhase: Sendable {
    let session: ImportSession
    let snapshotter: String
    let unpacker: ImportOptions.Unpacker
    var progress: (@Sendable (ImportProgress) -> Void)?

    /// The content phase, which a layer left to containerd's `Diff.Apply` waits for (it reads
    /// the blob from the content store).
    typealias ContentTask = Task<(stored: Int, present: Int, seconds: Double), any Error>

    /// Unpacks `image`; returns how many layers were unpacked and how many reused.
    func unpack(_ image: VerifiedImage, blobs: [Digest: ContentPhase.Blob], content: ContentTask)
        async throws -> (unpacked: Int, reused: Int)
    {
        let chains = chainIDs(image.diffIDs)
        var unpacked = 0
        var reused = 0
        for (position, layer) in image.layers.enumerated() {
            progress?(.unpacking(image: image.label, layer: position + 1, of: image.layers.count))
            let chain = chains[position]
            if try await isCommitted(chain) {
                try await session.hold(chain.description, type: "snapshots/\(snapshotter)")
                reused += 1
                continue
            }
            let key = "extract-\(UInt64.random(in: 0...UInt64.max))-\(chain.hex)"
            let mounts: [Containerd_Types_Mount]
            do {
                mounts = try await session.containerd.snapshots.prepare(
                    .with {
                        $0.snapshotter = snapshotter
                        $0.key = key
                        $0.parent = position > 0 ? chains[position - 1].description : ""
                        // containerd refuses the Prepare (AlreadyExists) once this chain is committed.
                        $0.labels = ["containerd.io/snapshot.ref": chain.description]
                    }, metadata: session.leased
                ).mounts
            } catch let error as RPCError where error.code == .alreadyExists {
                // Another import committed this chain since the Stat above: use theirs.
                try await session.hold(chain.description, type: "snapshots/\(snapshotter)")
                reused += 1
                continue
            }
            if unpacked == 0 { await Failpoint.unpack.reached() }
            do {
                let target = ApplierTarget(mounts: mounts.map { .init(type: $0.type, source: $0.source, options: $0.options) })
                if unpacker == .auto, let target {
                    try apply(layer, of: image, into: target, from: blobs[layer.digest])
                } else {
                    _ = try await content.value  // Diff.Apply reads the blob from the content store
                    try await applyWithContainerd(layer, of: image, into: mounts)
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

    private func isCommitted(_ chain: Digest) async throws -> Bool {
        do {
            let info = try await session.containerd.snapshots.stat(
                .with {
                    $0.snapshotter = snapshotter
                    $0.key = chain.description
                }, metadata: session.leased
            ).info
            return info.kind == .committed
        } catch let error as RPCError where error.code == .notFound {
            return false
        }
    }

    /// containerd's `Diff.Apply` (for mounts our applier does not write into): containerd reads
    /// the stored blob, applies it and returns the digest of what it applied, which must be the
    /// config's diff_id.
    private func applyWithContainerd(_ layer: VerifiedLayer, of image: VerifiedImage, into mounts: [Containerd_Types_Mount])
        async throws
    {
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
        guard let expected = layer.diffID, applied.digest == expected.description else {
            throw ImportError.unpack(
                image: image.label, layer: layer.index, digest: layer.digest,
                reason: "containerd applied it as \(applied.digest), the config says \(layer.diffID?.description ?? "nothing")")
        }
    }

    /// Applies one layer from the spool with this tool's applier.
    private func apply(_ layer: VerifiedLayer, of image: VerifiedImage, into target: ApplierTarget, from blob: ContentPhase.Blob?)
        throws
    {
        guard let spooled = blob?.spooled else {
            throw ImportError.unpack(image: image.label, layer: layer.index, digest: layer.digest, reason: "not in the spool")
        }
        // The read pass proved that this blob decompresses to the config's diff_id. Hashing the
        // spooled blob again proves these are the same bytes, so the applied stream is that one.
        let applied: AppliedLayer
        do {
            let application = try LayerApplication(root: target.root, mode: target.mode, checking: .blob)
            try InputFile(path: spooled).forEachChunk { try application.feed($0) }
            applied = try application.finish()
        } catch {
            throw ImportError.unpack(
                image: image.label, layer: layer.index, digest: layer.digest, reason: "\(error)", cause: error)
        }
        guard let found = applied.blobDigest, found == layer.digest else {
            throw ImportError.unpack(
                image: image.label, layer: layer.index, digest: layer.digest,
                reason: "its spooled copy changed after it was verified (it hashes to \(applied.blobDigest?.description ?? "nothing"))")
        }
    }
}
