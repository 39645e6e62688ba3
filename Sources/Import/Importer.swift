import ContainerdAPI
import Core
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
    case imported(VerificationReport, ImportSummary)
    /// The archive is inconsistent: nothing was sent to containerd.
    case refused(VerificationReport)
}

/// `kind-node-import import`: verify while spooling, then commit through containerd under a
/// lease, image records last (docs/import-design.md).
@available(macOS 15.0, *)
public struct Importer: Sendable {
    public var options: ImportOptions

    public init(options: ImportOptions) { self.options = options }

    /// - Parameter spoolParent: where the private spool directory goes.
    public func run(archive: String, spoolParent: String, progress: (@Sendable (Int64) -> Void)? = nil)
        async throws -> ImportOutcome
    {
        let spool = try Spool(parent: spoolParent)
        defer { spool.remove() }
        let input = try InputFile(path: archive)
        let start = MonotonicClock.nanoseconds()
        let (report, contents) = try ArchiveVerifier(platform: options.platform)
            .verifyReturningContents(input, sink: spool, progress: progress)
        guard report.consistent else { return .refused(report) }
        let read = PhaseTime(phase: "read", seconds: MonotonicClock.seconds(since: start))

        return try await ContainerdConnection.withConnection(socket: options.socket, namespace: options.namespace) {
            containerd in
            let lease = "kind-node-import-\(UInt64.random(in: 0...UInt64.max))"
            let expiry = UTCTime.format(UTCTime.now() + time_t(options.leaseExpiry), "%Y-%m-%dT%H:%M:%SZ")
            do {
                _ = try await containerd.leases.create(
                    .with {
                        $0.id = lease
                        $0.labels = ["containerd.io/gc.expire": expiry]
                    }, metadata: containerd.metadata())
            } catch let error as RPCError {
                throw ImportError.containerd("cannot create a lease at \(options.socket): \(error.message) (\(error.code))")
            }
            do {
                var summary = try await ImportTransaction(
                    options: options, report: report, contents: contents, spool: spool, containerd: containerd,
                    lease: lease
                ).run()
                summary.phases.insert(read, at: 0)
                // The records now hold everything through GC labels.
                _ = try? await containerd.leases.delete(.with { $0.id = lease }, metadata: containerd.metadata())
                return .imported(report, summary)
            } catch {
                // What was written is only leased: deleting the lease lets GC remove it.
                _ = try? await containerd.leases.delete(
                    .with {
                        $0.id = lease
                        $0.sync = true
                    }, metadata: containerd.metadata())
                throw error
            }
        }
    }
}
