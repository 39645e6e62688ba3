import ContainerdAPI
import Core
import GRPCCore

/// The layer blobs a node already unpacked with this tool, read before the archive is: each
/// snapshot committed by an import carries the blob it was applied from and that blob's diff_id
/// (`UnpackPhase.blobLabel`, `diffIDLabel`, both set only after the diff_id matched). Such a blob
/// in an archive is hashed against its name and not copied to the spool, so an unchanged
/// reload costs little more than reading the archive once.
///
/// The snapshot holds the blob's content at one chain; an image that stacks the same blob on
/// other layers needs its bytes again. Where layer blobs are kept, they are read back from the
/// content store (only blobs found there count as known); under `discard_unpacked_layers` they
/// are gone, and the import stops with `ImportError.notSpooled` (exit 75): run again with
/// `--spool-all`.
struct KnownLayers: Sendable {
    struct Layer: Sendable {
        var diffID: Digest
        /// The committed snapshot it was applied to.
        var chain: Digest
        /// Also in the content store (layer blobs kept).
        var stored: Bool
    }

    var byBlob: [Digest: Layer] = [:]

    /// Lists `snapshotter`'s committed snapshots with both labels; with `needStored`, keeps only
    /// the blobs the content store holds too.
    @available(macOS 15.0, *)
    static func read(_ session: ImportSession, snapshotter: String, needStored: Bool) async throws -> KnownLayers {
        var known = KnownLayers()
        known.byBlob = try await session.containerd.snapshots.list(
            request: ClientRequest(message: .with { $0.snapshotter = snapshotter }, metadata: session.leased)
        ) { response in
            var byBlob: [Digest: Layer] = [:]
            for try await message in response.messages {
                for info in message.info where info.kind == .committed {
                    guard let blob = info.labels[UnpackPhase.blobLabel].flatMap(Digest.init(parsing:)),
                        let diffID = info.labels[UnpackPhase.diffIDLabel].flatMap(Digest.init(parsing:)),
                        let chain = Digest(parsing: info.name)
                    else { continue }
                    byBlob[blob] = Layer(diffID: diffID, chain: chain, stored: false)
                }
            }
            return byBlob
        }
        if needStored {
            for blob in known.byBlob.keys {
                do {
                    _ = try await session.containerd.content.info(.with { $0.digest = blob.description }, metadata: session.leased)
                    known.byBlob[blob]?.stored = true
                } catch let error as RPCError where error.code == .notFound {
                    known.byBlob[blob] = nil
                }
            }
        }
        return known
    }
}
