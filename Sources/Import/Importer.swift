import ContainerdAPI
import Core
import Dispatch
import GRPCCore
import OCI
import Verification

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The outcome of one import, for the command to report.
public enum ImportOutcome: Sendable {
    /// Every image of the archive is committed.
    case imported(VerifiedArchive, ImportSummary)
    /// The archive is inconsistent: nothing of it stays in containerd.
    case refused(VerifiedArchive)
}

/// `kind-node-import import`: under a lease, verify while spooling (blobs are sent as they
/// arrive and stay uncommitted), then content and snapshots, the verdict, the commits, and the
/// image records last (docs/import-design.md).
@available(macOS 15.0, *)
public struct Importer: Sendable {
    public var options: ImportOptions

    public init(options: ImportOptions) { self.options = options }

    /// - Parameters:
    ///   - input: the archive, opened by the caller (which reports a missing one first).
    ///   - spoolParent: where the private spool directory goes.
    public func run(input: InputFile, spoolParent: String, progress: (@Sendable (ImportProgress) -> Void)? = nil)
        async throws -> ImportOutcome
    {
        let spool = try Spool(parent: spoolParent)
        defer { spool.remove() }
        options.interruption?.spoolCreated(spool.directory)
        let options = self.options
        return try await ContainerdConnection.withConnection(socket: options.socket, namespace: options.namespace) {
            containerd in
            let start = MonotonicClock.nanoseconds()
            // The lease comes first, so blobs can be stored while the archive is still read. An
            // unreachable containerd does not stop the verification: archive problems are
            // reported first (exit 65), containerd's after (69).
            let lease = "kind-node-import-\(UInt64.random(in: 0...UInt64.max))"
            var leaseError: RPCError?
            do {
                let expiry = UTCTime.format(UTCTime.now() + time_t(options.leaseExpiry), "%Y-%m-%dT%H:%M:%SZ")
                _ = try await containerd.leases.create(
                    .with {
                        $0.id = lease
                        $0.labels = ["containerd.io/gc.expire": expiry]
                    }, metadata: containerd.metadata())
                options.interruption?.leaseCreated(lease)
            } catch let error as RPCError {
                leaseError = error
            }
            let leased = leaseError == nil
            let session = ImportSession(containerd: containerd, socket: options.socket, lease: lease)
            let uploader = leased && options.storeWhileReading ? EarlyUploader(session: session) : nil
            // What the node has unpacked already is hashed, not spooled (a cheap reload).
            var known = KnownLayers()
            if leased && options.skipKnownLayers {
                // Not knowing costs only speed: then everything is spooled.
                known = (try? await KnownLayers.read(session, snapshotter: options.snapshotter, needStored: !options.discardLayers)) ?? known
                spool.skipping = Set(known.byBlob.keys)
            }
            // discard_unpacked_layers: layer candidates are not sent ahead (the content phase
            // stores the few an image may still need).
            let sendsLayers = !options.discardLayers
            spool.onFileSpooled = { record, spooled in
                if sendsLayers || record.layer == nil { uploader?.offer(record, spooled: spooled) }
            }
            // The layers are decoded once, when they are applied (or inspected in the spool).
            let verifier = ArchiveVerifier(platform: options.platform, decoding: .deferred)
            let reading = await OffThread.run(Unchecked((input, spool))) { shared in
                try verifier.verify(shared.value.0, sink: shared.value.1) { progress?(.read($0)) }
            }
            spool.onFileSpooled = nil

            /// Drops everything written so far: the uncommitted blobs are aborted at once, and GC
            /// removes what only the lease held. The uploads are stopped first, but the lease is
            /// deleted even if one of them does not answer its cancellation.
            @Sendable func abandon() async {
                _ = await finishes(within: 10) {
                    await session.ingests.abortAll(session)
                    await uploader?.cancel()
                }
                if leased {
                    _ = try? await containerd.leases.delete(
                        .with {
                            $0.id = lease
                            $0.sync = true
                        }, metadata: containerd.metadata())
                }
            }
            var verified: VerifiedArchive
            switch reading {
            case .failure(let error):
                await abandon()
                throw error
            case .success(let result):
                verified = result.value
            }
            var notes: [String] = []
            if options.repair, let repaired = verifier.repairingDocker25Defect(verified), repaired.consistent {
                notes.append(
                    "repaired: the archive's OCI index describes its image(s) inconsistently (Docker 25.0.0's defect); imported what its manifest.json describes instead, with a manifest written from it")
                verified = repaired
            }
            for image in verified.images where !image.absentParts.isEmpty {
                notes.append(
                    "\(image.label): not in the archive, not needed on this node: \(image.absentParts.joined(separator: ", ")) (Docker's containerd image store exports only what it holds; kind#3795)")
            }
            guard verified.consistent else {
                await abandon()
                // The report names every problem `verify` would, layers decoded included.
                return .refused(Self.decodingPendingLayers(verified, verifier: verifier, spool: spool, known: known))
            }
            if let leaseError {
                // Archive problems come first: decode the layers here, as nothing can be unpacked.
                let decoded = Self.decodingPendingLayers(verified, verifier: verifier, spool: spool, known: known)
                if !decoded.consistent { return .refused(decoded) }
                throw ImportError.containerd("cannot create a lease at \(options.socket): \(leaseError.message) (\(leaseError.code))")
            }
            let read = PhaseTime(phase: "read", seconds: MonotonicClock.seconds(since: start))
            do {
                var (summary, verdict) = try await ImportTransaction(
                    options: options, verified: verified, spool: spool, session: session, progress: progress,
                    earlyUploads: uploader, verifier: verifier, known: known
                ).run()
                summary.phases.insert(read, at: 0)
                summary.notes = notes
                // The records now hold everything through GC labels.
                _ = try? await containerd.leases.delete(.with { $0.id = lease }, metadata: containerd.metadata())
                return .imported(verdict, summary)
            } catch let refusal as ArchiveRefused {
                await abandon()
                return .refused(refusal.verdict)
            } catch {
                await abandon()
                throw error
            }
        }
    }
}

extension Importer {
    /// `verified` with its pending layers decoded from the spool, for the report of a refused
    /// archive (a layer the spool lacks, as in a cut archive, stays unchecked; one it skipped is
    /// what the node knows it decompresses to).
    static func decodingPendingLayers(
        _ verified: VerifiedArchive, verifier: ArchiveVerifier, spool: Spool, known: KnownLayers = KnownLayers()
    ) -> VerifiedArchive {
        var facts: [String: LayerFacts] = [:]
        for path in verified.contents.pendingLayers {
            if let file = spool.file(for: path), let found = try? verifier.inspectLayer(file: file, path: path) {
                facts[path] = found
            } else if let held = spool.skipped[path].flatMap({ known.byBlob[$0] }) {
                facts[path] = LayerFacts(diffID: held.diffID, uncompressedSize: 0, entryCount: 0)
            }
        }
        return verifier.verdict(verified, layers: facts)
    }
}

/// Runs blocking work (the archive's read and verification) on a thread of its own, so it does
/// not hold one of the few threads that run the import's async tasks.
enum OffThread {
    static func run<Input, Output>(
        _ input: Unchecked<Input>, _ body: @escaping @Sendable (Unchecked<Input>) throws -> Output
    ) async -> Result<Unchecked<Output>, any Error> {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(returning: Result { Unchecked(try body(input)) })
            }
        }
    }
}
