import ArgumentParser
import ContainerdAPI
import Core
import GRPCCore
import Import
import OCI

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `kind-node-import status IMAGE...`: is each image fully present in this node's containerd?
/// The host loader asks it before sending an image (kind#4236: kind compared image IDs only).
/// With `--id`, also whether each is the host's image (its record's target or config is that
/// ID): the host loader decides on the exit code alone. With `--cri`, also what kubelet sees:
/// CRI's answer for each image, beside ours.
public struct StatusCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Tell whether images are fully present in containerd: record, content and unpacked layers.",
        discussion: """
            IMAGE is a name (normalized as kubelet does: busybox → docker.io/library/busybox:latest) \
            or a sha256: digest of an image's config (its image ID) or of a record's target. An \
            image is present when its record exists, its target and config are stored, and every \
            layer of this platform is unpacked (a committed snapshot per chain ID) in the \
            snapshotter CRI uses. A record left by a failed ctr import, without its snapshots, is \
            not present.

            --id DIGEST, given once per IMAGE and in the same order, is the image ID the caller \
            has for that IMAGE (docker image inspect --format '{{.Id}}': the config digest with \
            Docker's classic store, the index or manifest digest with its containerd store, \
            kind#4236). The image then counts only when it is present and its record's target or \
            config is that digest; a present record of another image is "stale".

            --cri also asks containerd's CRI plugin (runtime.v1 ImageService/ImageStatus, the call \
            behind kubelet's "already present on machine") about each image and prints its \
            answer: the image ID and tags, or that CRI does not know it. A record that CRI \
            reports while the image is not complete is called out: kubelet would not pull or load \
            it and its pods would fail to start. CRI sees namespace k8s.io only.

            Exit codes: 0 every image is present (and, with --id, current), 1 some image is not \
            (a line says what is missing or stale), 64 usage error, 69 containerd cannot be reached, cannot tell which \
            snapshotter CRI uses, or (--cri) CRI is not running.
            """
    )

    @Argument(help: "Image names or sha256: digests.")
    var images: [String]

    @Option(
        name: .customLong("id"),
        help: ArgumentHelp(
            "The expected image ID of each IMAGE, once per IMAGE in order: its record's target or config must be this digest.",
            valueName: "sha256:DIGEST"))
    var ids: [String] = []

    @OptionGroup var node: NodeOptions

    @Flag(help: "Also print what containerd's CRI (kubelet's view) says of each image.")
    var cri = false

    @Flag(help: "Print one JSON document on standard output.")
    var json = false

    public init() {}

    public mutating func validate() throws {
        if images.isEmpty { throw ValidationError("name at least one image") }
        if !ids.isEmpty && ids.count != images.count {
            throw ValidationError("give --id once per IMAGE, in order: \(images.count) image(s), \(ids.count) --id")
        }
        if let bad = ids.first(where: { Digest(parsing: $0) == nil }) {
            throw ValidationError("--id must be a sha256: digest (sha256: and 64 lowercase hex digits); got \"\(bad)\"")
        }
        if cri && node.resolvedNamespace != CRIView.namespace {
            throw ValidationError(
                "--cri compares with what CRI sees, namespace \(CRIView.namespace) only; got namespace \(node.resolvedNamespace)")
        }
    }

    public func run() throws {
        let socket = node.socket
        let (namespace, platform) = (node.resolvedNamespace, node.resolvedPlatform)
        let (requested, configPath, askCRI) = (node.snapshotter, node.containerdConfig, cri)
        let images = self.images
        let outcome = Blocking.run {
            try await ContainerdConnection.withConnection(socket: socket, namespace: namespace) { containerd in
                let snapshotter = try await NodeSnapshotter.detect(requested, configPath: configPath, containerd: containerd)
                let presence = ImagePresence(namespace: namespace, snapshotter: snapshotter.name, platform: platform)
                let reports = try await presence.check(images, containerd: containerd)
                let views = askCRI ? try await CRIView.ask(reports, containerd: containerd) : nil
                return (reports, views)
            }
        }
        let reports: [PresenceReport]
        let views: [CRIView]?
        switch outcome {
        case .success(let found):
            (reports, views) = found
        case .failure(let failure as NodeSnapshotter.Failure):
            throw node.snapshotterFailed(failure)
        case .failure(let error as CRIView.Unavailable):
            throw CommandFailure(.unavailable, error.description(socket: socket), cause: error).report()
        case .failure(let error as RPCError):
            throw CommandFailure(.unavailable, "containerd at \(socket): \(error.message) (\(error.code))", cause: error).report()
        case .failure(let error):
            throw CommandFailure(.unavailable, "containerd at \(socket): \(error)", cause: error).report()
        }
        let entries = reports.enumerated().map { index, report in
            StatusEntry(
                report: report, expectedID: ids.isEmpty ? nil : Digest(parsing: ids[index]), cri: views?[index])
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            writeStandardOutput(String(decoding: try encoder.encode(entries), as: UTF8.self) + "\n")
        } else {
            for entry in entries {
                writeStandardOutput(entry.line + "\n")
                guard let view = entry.cri else { continue }
                writeStandardOutput("         CRI: \(view.summary)\n")
                if let warning = view.warning { writeStandardError("warning: \(warning)\n") }
                if let note = view.note { writeStandardError("note: \(note)\n") }
            }
        }
        if entries.contains(where: { !$0.counts }) { throw ExitCode(1) }
    }
}

/// What CRI says of one image, beside our presence check (`status --cri`).
struct CRIView: Sendable, Encodable {
    /// The only containerd namespace CRI reads.
    static let namespace = "k8s.io"

    /// Whether CRI knows the image (kubelet then says "already present on machine").
    var known: Bool
    var image: CRIImage?
    /// CRI refused the name itself (not a reference it parses).
    var error: String?
    /// CRI reports the image while it is not complete in containerd.
    var warning: String?
    /// CRI's image ID is not the config our check found.
    var note: String?

    /// CRI is not running in this containerd, or failed to answer.
    struct Unavailable: Error {
        var error: RPCError
        /// CRI's plugins that failed to load, when CRI is missing.
        var failures: [String] = []

        func description(socket: String) -> String {
            if ContainerdConnection.isCRIMissing(error) {
                let why =
                    failures.isEmpty
                    ? "its CRI plugin is disabled" : "its CRI plugin failed to load: \(failures.joined(separator: "; "))"
                return "containerd at \(socket) runs without CRI (\(why)): --cri has nothing to ask"
            }
            return "CRI in the containerd at \(socket): \(error.message) (\(error.code))"
        }
    }

    @available(macOS 15.0, *)
    static func ask(_ reports: [PresenceReport], containerd: ContainerdConnection) async throws -> [CRIView] {
        var views: [CRIView] = []
        for report in reports {
            do {
                views.append(CRIView(report: report, image: try await containerd.criImageStatus(report.query)))
            } catch let error as RPCError where error.code == .invalidArgument {
                views.append(CRIView(known: false, error: error.message))
            } catch let error as RPCError where ContainerdConnection.isCRIMissing(error) {
                throw Unavailable(error: error, failures: (try? await containerd.criPluginFailures()) ?? [])
            } catch let error as RPCError {
                throw Unavailable(error: error)
            }
        }
        return views
    }

    init(known: Bool, image: CRIImage? = nil, error: String? = nil) {
        self.known = known
        self.image = image
        self.error = error
    }

    init(report: PresenceReport, image: CRIImage?) {
        self.init(known: image != nil, image: image)
        guard let image else { return }
        let name = report.record ?? image.repoTags.first ?? report.query
        if !report.present {
            warning = """
                CRI reports \(report.query) as present (image \(image.id)), but it is not complete in containerd: \
                kubelet will say the image is "already present on machine" and will not pull it, and pods using it \
                will fail to start (errors such as "error unpacking image" or "mismatched image rootfs and manifest \
                layers"). Load a sound archive of it again (kind-node-import import replaces the record) or remove \
                the record: ctr -n k8s.io images rm \(name) (kind-node-import doctor --fix removes every record of an image \
                that is not complete)
                """
        } else if let config = report.config, config != image.id {
            note = "CRI's image ID for \(report.query) is \(image.id), not the config \(config) of the record \(name) (CRI updates its view from containerd's events: it may not have caught up yet)"
        }
    }

    /// One line for humans.
    var summary: String {
        if let error { return "refused the name: \(error)" }
        guard let image else { return "does not know it" }
        var line = "knows it  id=\(image.id)"
        if !image.repoTags.isEmpty { line += "  tags=\(image.repoTags.joined(separator: ","))" }
        if !image.repoDigests.isEmpty { line += "  digests=\(image.repoDigests.joined(separator: ","))" }
        return line
    }
}

/// One image's answer: the presence report, and with `--id` whether the record is that image
/// (`expectedID`, `current`), with `--cri` what CRI says (`cri`). Without them, `--json` prints
/// the presence report alone, as before.
struct StatusEntry: Encodable {
    var report: PresenceReport
    var expectedID: Digest?
    var cri: CRIView?

    /// With `--id`: the record's target or config is the expected ID (false when not present).
    var current: Bool? {
        guard let expectedID else { return nil }
        let id = expectedID.description
        return report.present && (report.target == id || report.config == id)
    }

    /// Whether the image counts for the exit code: present, and current when an ID was given.
    var counts: Bool { report.present && current != false }

    /// The line for humans: present, stale (present, but another image than --id's) or missing.
    var line: String {
        guard report.present else { return "missing  \(report.query): \(report.missing ?? "not present")" }
        let digests = "target=\(report.target ?? "")  config=\(report.config ?? "")"
        if current == false, let expectedID {
            return "stale    \(report.query): \(report.record ?? report.query) holds another image (\(digests)), not \(expectedID)"
        }
        return "present  \(report.query)  record=\(report.record ?? "")  \(digests)  layers=\(report.layers ?? 0)"
    }

    private enum Keys: String, CodingKey { case expectedID, current, cri }

    func encode(to encoder: any Encoder) throws {
        try report.encode(to: encoder)
        var container = encoder.container(keyedBy: Keys.self)
        try container.encodeIfPresent(expectedID, forKey: .expectedID)
        try container.encodeIfPresent(current, forKey: .current)
        try container.encodeIfPresent(cri, forKey: .cri)
    }
}
