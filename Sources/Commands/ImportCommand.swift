import ArgumentParser
import Core
import Dispatch
import Import
import OCI
import POSIX
import Synchronization
import Verification

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `kind-node-import import [ARCHIVE | -]`: the replacement for kind's
/// `ctr --namespace=k8s.io images import --all-platforms --digests --snapshotter=S -`.
public struct ImportCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Verify an image archive, then import it atomically into containerd.",
        discussion: """
            Everything happens under a containerd lease. The archive is read once: every blob \
            digest is checked while it is copied to a private spool, and each blob is stored in \
            containerd as soon as it is read (referenced by nothing; --verify-first waits for the \
            whole archive instead). Each layer is then decompressed once, as it is unpacked into \
            a snapshot: its diff_id is checked before the snapshot is committed, and every \
            entry before it is applied. Only when the whole archive has proved sound are the \
            blobs labelled and the image records created or updated, all or none. A refused or \
            failed import leaves no record, no content and no snapshot behind, and never \
            changes an existing tag. Where containerd's config sets discard_unpacked_layers (as \
            kind's does), layer blobs are not kept, as CRI's own pulls keep them.

            Docker 25.0.0's `docker save` wrote archives whose OCI index disagrees with the image's \
            config while manifest.json is right; they are refused, and --repair imports what \
            manifest.json describes instead.

            A layer this tool unpacked into the node before is hashed but not copied to the \
            spool, and not decompressed again (a cheap reload). If an image stacks such a \
            layer on other layers and its blob is not kept, the import stops with 75: run it \
            again with --spool-all.

            Exit codes: 0 imported, 65 inconsistent or hostile archive (nothing kept), 66 the \
            input cannot be opened, 69 containerd cannot be reached or refused, 74 this \
            machine's I/O failed (reading the input, or writing: a full disk, a device error), \
            75 run again with --spool-all (nothing kept).
            """
    )

    @Argument(help: "The archive to read: a path, or - for standard input.")
    var archive: String = "-"

    @OptionGroup var node: NodeOptions

    @Flag(help: "Accepted for kind's command line: blobs of every platform in the archive are stored.")
    var allPlatforms = false

    @Flag(help: "Also name each image import-<date>@<digest>, as ctr --digests does.")
    var digests = false

    @Option(help: "Directory for the private spool (default: next to containerd's root, else /var/tmp).")
    var spoolDirectory: String?

    @Option(help: "Seconds containerd keeps what an interrupted import wrote before GC may collect it.")
    var leaseExpiry: Int = 3600

    @Flag(help: "Import a Docker 25.0.0 archive as its consistent manifest.json describes it, and say so.")
    var repair = false

    @Option(help: "Who unpacks layers: auto (this tool for bind and overlay mounts, containerd's Diff.Apply for others) or containerd (Diff.Apply always).")
    var unpackWith: ImportOptions.Unpacker = .auto

    @Flag(help: "Send nothing to containerd's content store until the whole archive verified (by default each blob is stored under the import's lease as soon as it is read and its digest checked, referenced by nothing until the archive proved sound: faster).")
    var verifyFirst = false

    @Flag(help: "Keep no layer blob once its layer is unpacked, as containerd's discard_unpacked_layers does (default: what --containerd-config says; kind sets it).")
    var discardLayers = false

    @Flag(help: "Keep the layer blobs in the content store whatever containerd's config says.")
    var keepLayers = false

    @Flag(help: "Copy every blob to the spool, also the layers the node has unpacked already (by default they are only hashed).")
    var spoolAll = false

    @Flag(help: "Print a JSON summary on standard output (imported, refused or failed).")
    var json = false

    public init() {}

    public func validate() throws {
        if discardLayers && keepLayers { throw ValidationError("--discard-layers and --keep-layers exclude each other") }
    }

    /// `--discard-layers`, `--keep-layers`, else CRI's `discard_unpacked_layers` in containerd's
    /// config (a config that cannot be read keeps them, and says so).
    func discardsLayers() -> Bool {
        if discardLayers || keepLayers { return discardLayers }
        do {
            return try NodeSnapshotter.readConfig(path: node.containerdConfig).discardUnpackedLayers
        } catch {
            writeStandardError("note: layer blobs are kept: \(error)\n")
            return false
        }
    }

    public func run() throws {
        let input = Unchecked(try openInput(archive))  // exit 66 before anything else when the input is missing
        let interruption = ImportInterruption()
        var settings = ImportOptions(
            socket: node.socket,
            namespace: node.resolvedNamespace,
            snapshotter: try node.snapshotterForImport(),
            platform: node.resolvedPlatform,
            digestNames: digests,
            leaseExpiry: leaseExpiry,
            repair: repair,
            unpacker: unpackWith,
            storeWhileReading: !verifyFirst,
            discardLayers: discardsLayers(),
            interruption: interruption)
        settings.skipKnownLayers = !spoolAll
        let options = settings
        ImportSignals.install(interruption, socket: options.socket, namespace: options.namespace)
        let spoolParent = spoolDirectory ?? Self.defaultSpoolParent()
        let name = input.value.name
        let view = ImportProgressView(archive: name)
        let outcome = Blocking.run {
            try await Importer(options: options).run(input: input.value, spoolParent: spoolParent, progress: view.update)
        }
        view.clear()
        let summary = ImportJSON(archive: name, outcome: outcome)
        if json { writeStandardOutput(summary.encoded() + "\n") }
        switch outcome {
        case .success(.imported(let report, let summary)):
            for note in summary.notes { writeStandardError("note: \(note)\n") }
            if !json {
                for image in summary.images {
                    writeStandardOutput(
                        "imported  \(image.names.joined(separator: ","))  \(image.platform?.description ?? "")  target=\(image.target.digest)  layers unpacked=\(image.layersUnpacked) reused=\(image.layersReused)\n")
                }
            }
            writeStandardError(
                "\(report.archive): imported \(summary.images.count) image(s); \(summary.blobsStored) blobs stored, \(summary.blobsPresent) already present; \(summary.layersDecoded) layer(s) decompressed; "
                    + (summary.layersNotSpooled > 0 ? "\(summary.layersNotSpooled) layer blob(s) only hashed (unpacked in this node already); " : "")
                    + (summary.layerBlobsKept ? "" : "layer blobs not kept (discard_unpacked_layers); ")
                    + summary.phases.map { "\($0.phase) \(formatSeconds($0.seconds))" }.joined(separator: ", ") + "\n")
        case .success(.refused(let report)):
            for problem in report.problems {
                writeStandardError("\(problem.severity.rawValue): \(problem)\n")
            }
            if !repair && report.problems.contains(where: { $0.code == "docker25-manifest-defect" }) {
                writeStandardError("hint: --repair imports what the archive's manifest.json describes instead\n")
            }
            writeStandardError("\(report.archive): refused, nothing was imported\n")
            throw ExitCode(ExitStatus.dataError.rawValue)
        case .failure(let error):
            let failure = CommandFailure(error, doing: Self.failureWords(for: CommandFailure.status(of: error)))
            throw failure.report()
        }
    }

    /// What a failed import says before its cause: the archive's fault is a refusal; this
    /// machine's or containerd's is a failure. Either way nothing was committed.
    static func failureWords(for status: ExitStatus) -> String? {
        switch status {
        case .dataError: return "import refused, nothing was committed"
        case .ioError, .noInput: return "import failed on this machine, nothing was committed"
        default: return "import failed, nothing was committed"
        }
    }

    /// containerd's root when it exists (same filesystem as the snapshots), else /var/tmp.
    static func defaultSpoolParent() -> String {
        (try? FileSystem.status("/var/lib/containerd")) != nil ? "/var/lib/containerd" : "/var/tmp"
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


/// The progress line of an import: bytes read, blobs stored, the layer being unpacked.
final class ImportProgressView: Sendable {
    private struct State {
        var read: Int64 = 0
        var stored: (Int, Int)?
        var unpacking: (String, Int, Int)?
    }

    private let line = ProgressLine()
    private let archive: String
    private let state = Mutex(State())

    init(archive: String) {
        self.archive = archive
    }

    @Sendable func update(_ event: ImportProgress) {
        let text = state.withLock { state in
            switch event {
            case .read(let bytes): state.read = bytes
            case .stored(let done, let total): state.stored = (done, total)
            case .unpacking(let image, let layer, let count): state.unpacking = (image, layer, count)
            }
            var parts = ["importing \(archive): \(formatBytes(state.read)) read"]
            if let (done, total) = state.stored { parts.append("\(done)/\(total) blobs stored") }
            if let (image, layer, count) = state.unpacking { parts.append("unpacking \(image) layer \(layer)/\(count)") }
            return parts.joined(separator: ", ")
        }
        line.update(text)
    }

    func clear() { line.clear() }
}

/// `import --json`: what happened, in one document.
struct ImportJSON: Encodable {
    struct Image: Encodable {
        var names: [String]
        var target: String
        var mediaType: String
        var platform: String?
        var layersUnpacked: Int
        var layersReused: Int
    }

    var archive: String
    /// imported, refused or failed.
    var status: String
    var images: [Image] = []
    var blobsStored: Int?
    var blobsPresent: Int?
    var layersDecoded: Int?
    var layersNotSpooled: Int?
    var layerBlobsKept: Bool?
    var phases: [PhaseTime]?
    var notes: [String]?
    var problems: [Problem]?
    var error: String?
    var exitCode: Int32

    init(archive: String, outcome: Result<ImportOutcome, any Error>) {
        self.archive = archive
        switch outcome {
        case .success(.imported(_, let summary)):
            status = "imported"
            images = summary.images.map {
                Image(
                    names: $0.names, target: $0.target.digest.description, mediaType: $0.target.mediaType ?? "",
                    platform: $0.platform?.description,
                    layersUnpacked: $0.layersUnpacked, layersReused: $0.layersReused)
            }
            blobsStored = summary.blobsStored
            blobsPresent = summary.blobsPresent
            layersDecoded = summary.layersDecoded
            layersNotSpooled = summary.layersNotSpooled
            layerBlobsKept = summary.layerBlobsKept
            phases = summary.phases
            notes = summary.notes
            exitCode = 0
        case .success(.refused(let report)):
            status = "refused"
            problems = report.problems
            exitCode = ExitStatus.dataError.rawValue
        case .failure(let failure):
            status = "failed"
            error = "\(failure)"
            exitCode = CommandFailure.status(of: failure).rawValue
        }
    }

    func encoded() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}

extension ImportOptions.Unpacker: ExpressibleByArgument {}
