import ArgumentParser
import Core
import Dispatch
import Import
import OCI
import Verification

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `kind-node-import import [ARCHIVE | -]`: the replacement for kind's
/// `ctr --namespace=k8s.io images import --all-platforms --digests --snapshotter=S -`.
public struct ImportCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Verify an image archive, then import it atomically into containerd.",
        discussion: """
            The archive is read once: every blob digest and every layer's diff_id is checked while \
            it is copied to a private spool, before containerd sees anything. Then, under a \
            containerd lease, blobs are stored, layers unpacked into snapshots and checked again, \
            and only then are the image records created or updated, all or none. A failed import \
            leaves no new record and never changes an existing tag.

            Exit codes: 0 imported, 65 inconsistent or hostile archive (nothing stored), 66 the \
            input cannot be opened, 69 containerd cannot be reached or refused, 74 read error.
            """
    )

    @Argument(help: "The archive to read: a path, or - for standard input.")
    var archive: String = "-"

    @Option(help: "containerd's socket (env CONTAINERD_ADDRESS).")
    var address: String?

    @Option(help: "containerd namespace (env CONTAINERD_NAMESPACE).")
    var namespace: String?

    @Option(help: "Snapshotter to unpack into; auto: the CRI snapshotter of the node's containerd config, else overlayfs.")
    var snapshotter: String = "auto"

    @Option(help: "containerd's config, read by --snapshotter auto.")
    var containerdConfig: String = NodeSnapshotter.defaultConfig

    @Option(help: "The platform to unpack, os/arch[/variant] (default: this machine's).")
    var platform: String?

    @Flag(help: "Accepted for kind's command line: blobs of every platform in the archive are stored.")
    var allPlatforms = false

    @Flag(help: "Also name each image import-<date>@<digest>, as ctr --digests does.")
    var digests = false

    @Option(help: "Directory for the private spool (default: next to containerd's root, else /var/tmp).")
    var spoolDirectory: String?

    @Option(help: "Seconds containerd keeps what an interrupted import wrote before GC may collect it.")
    var leaseExpiry: Int = 3600

    public init() {}

    public mutating func validate() throws {
        if let platform, Platform(parsing: platform) == nil {
            throw ValidationError("--platform must look like os/arch[/variant]; got \"\(platform)\"")
        }
    }

    public func run() throws {
        let environment = ProcessEnvironment()
        let options = ImportOptions(
            socket: address ?? environment["CONTAINERD_ADDRESS"] ?? "/run/containerd/containerd.sock",
            namespace: namespace ?? environment["CONTAINERD_NAMESPACE"] ?? "k8s.io",
            snapshotter: snapshotter == "auto" ? NodeSnapshotter.detect(configPath: containerdConfig) : snapshotter,
            platform: platform.flatMap(Platform.init(parsing:)) ?? .current,
            digestNames: digests,
            leaseExpiry: leaseExpiry)
        let spoolParent = spoolDirectory ?? Self.defaultSpoolParent()
        _ = try openInput(archive)  // exit 66 before anything else when the input is missing
        let archive = self.archive
        let outcome = Blocking.run { try await Importer(options: options).run(archive: archive, spoolParent: spoolParent) }
        switch outcome {
        case .success(.imported(let report, let summary)):
            for image in summary.images {
                writeStandardOutput(
                    "imported  \(image.names.joined(separator: ","))  \(image.platform ?? "")  target=\(image.target.digest)  layers unpacked=\(image.layersUnpacked) reused=\(image.layersReused)\n")
            }
            writeStandardError(
                "\(report.archive): imported \(summary.images.count) image(s); \(summary.blobsStored) blobs stored, \(summary.blobsPresent) already present; "
                    + summary.phases.map { "\($0.phase) \(formatSeconds($0.seconds))" }.joined(separator: ", ") + "\n")
        case .success(.refused(let report)):
            for problem in report.problems {
                writeStandardError("\(problem.severity.rawValue): \(problem)\n")
            }
            writeStandardError("\(report.archive): refused, nothing was imported\n")
            throw ExitCode(ExitStatus.dataError.rawValue)
        case .failure(let error as InputError):
            writeStandardError("kind-node-import: \(error)\n")
            throw ExitCode(ExitStatus.ioError.rawValue)
        case .failure(let error as ImportError) where error.isDataError:
            writeStandardError("kind-node-import: import refused, nothing was committed: \(error)\n")
            throw ExitCode(ExitStatus.dataError.rawValue)
        case .failure(let error):
            writeStandardError("kind-node-import: import failed, nothing was committed: \(error)\n")
            throw ExitCode(ExitStatus.unavailable.rawValue)
        }
    }

    /// containerd's root when it exists (same filesystem as the snapshots), else /var/tmp.
    static func defaultSpoolParent() -> String {
        var info = stat()
        return stat("/var/lib/containerd", &info) == 0 ? "/var/lib/containerd" : "/var/tmp"
    }
}

/// Runs async work to completion from synchronous code (the entry point stays synchronous).
enum Blocking {
    static func run<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) -> Result<T, any Error> {
        let box = ResultBox<T>()
        let done = DispatchSemaphore(value: 0)
        Task {
            do {
                box.result = .success(try await body())
            } catch {
                box.result = .failure(error)
            }
            done.signal()
        }
        done.wait()
        return box.result ?? .failure(CancellationError())
    }

    private final class ResultBox<T>: @unchecked Sendable {
        var result: Result<T, any Error>?
    }
}

/// The process environment, read once.
struct ProcessEnvironment {
    subscript(name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        return String(cString: value)
    }
}
