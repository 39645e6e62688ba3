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
/// With `--cri`, also what kubelet sees: CRI's answer for each image, beside ours.
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

            --cri also asks containerd's CRI plugin (runtime.v1 ImageService/ImageStatus, the call \
            behind kubelet's "already present on machine") about each image and prints its \
            answer: the image ID and tags, or that CRI does not know it. A record that CRI \
            reports while the image is not complete is called out: kubelet would not pull or load \
            it and its pods would fail to start. CRI sees namespace k8s.io only.

            Exit codes: 0 every image is present, 1 some image is not (a line says what is \
            missing), 64 usage error, 69 containerd cannot be reached, cannot tell which \
            snapshotter CRI uses, or (--cri) CRI is not running.
            """
    )

    @Argument(help: "Image names or sha256: digests.")
    var images: [String]

    @OptionGroup var node: NodeOptions

    @Flag(help: "Also print what containerd's CRI (kubelet's view) says of each image.")
    var cri = false

    @Flag(help: "Print one JSON document on standard output.")
    var json = false

    public init() {}

    public mutating func validate() throws {
        if images.isEmpty { throw ValidationError("name at least one image") }
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
            writeStandardError("kind-node-import: \(error.description(socket: socket))\n")
            throw ExitCode(ExitStatus.unavailable.rawValue)
        case .failure(let error as RPCError):
            writeStandardError("kind-node-import: containerd at \(socket): \(error.message) (\(error.code))\n")
            throw ExitCode(ExitStatus.unavailable.rawValue)
        case .failure(let error):
            writeStandardError("kind-node-import: containerd at \(socket): \(error)\n")
            throw ExitCode(ExitStatus.unavailable.rawValue)
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            let document =
                if let views {
                    try encoder.encode(zip(reports, views).map { StatusEntry(report: $0, cri: $1) })
                } else {
                    try encoder.encode(reports)
                }
            writeStandardOutput(String(decoding: document, as: UTF8.self) + "\n")
        } else {
            for (index, report) in reports.enumerated() {
                if report.present {
                    writeStandardOutput(
                        "present  \(report.query)  record=\(report.record ?? "")  target=\(report.target ?? "")  config=\(report.config ?? "")  layers=\(report.layers ?? 0)\n")
                } else {
                    writeStandardOutput("missing  \(report.query): \(report.missing ?? "not present")\n")
                }
                guard let view = views?[index] else { continue }
                writeStandardOutput("         CRI: \(view.summary)\n")
                if let warning = view.warning { writeStandardError("warning: \(warning)\n") }
                if let note = view.note { writeStandardError("note: \(note)\n") }
            }
        }
        if reports.contains(where: { !$0.present }) { throw ExitCode(1) }
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
                the record: ctr -n k8s.io images rm \(name)
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

/// A `status --cri --json` entry: the presence report's fields and `cri`.
struct StatusEntry: Encodable {
    var report: PresenceReport
    var cri: CRIView

    private enum Keys: String, CodingKey { case cri }

    func encode(to encoder: any Encoder) throws {
        try report.encode(to: encoder)
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(cri, forKey: .cri)
    }
}
