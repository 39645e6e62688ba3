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

            Exit codes: 0 every image is present, 1 some image is not (a line says what is \
            missing), 64 usage error, 69 containerd cannot be reached or the node cannot tell which \
            snapshotter CRI uses.
            """
    )

    @Argument(help: "Image names or sha256: digests.")
    var images: [String]

    @OptionGroup var node: NodeOptions

    @Flag(help: "Print one JSON document on standard output.")
    var json = false

    public init() {}

    public mutating func validate() throws {
        if images.isEmpty { throw ValidationError("name at least one image") }
    }

    public func run() throws {
        let socket = node.socket
        let (namespace, platform) = (node.resolvedNamespace, node.resolvedPlatform)
        let (requested, configPath) = (node.snapshotter, node.containerdConfig)
        let images = self.images
        let outcome = Blocking.run {
            try await ContainerdConnection.withConnection(socket: socket, namespace: namespace) { containerd in
                let snapshotter = try await NodeSnapshotter.detect(requested, configPath: configPath, containerd: containerd)
                let presence = ImagePresence(namespace: namespace, snapshotter: snapshotter.name, platform: platform)
                return try await presence.check(images, containerd: containerd)
            }
        }
        let reports: [PresenceReport]
        switch outcome {
        case .success(let found):
            reports = found
        case .failure(let failure as NodeSnapshotter.Failure):
            throw node.snapshotterFailed(failure)
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
            writeStandardOutput(String(decoding: try encoder.encode(reports), as: UTF8.self) + "\n")
        } else {
            for report in reports {
                if report.present {
                    writeStandardOutput(
                        "present  \(report.query)  record=\(report.record ?? "")  target=\(report.target ?? "")  config=\(report.config ?? "")  layers=\(report.layers ?? 0)\n")
                } else {
                    writeStandardOutput("missing  \(report.query): \(report.missing ?? "not present")\n")
                }
            }
        }
        if reports.contains(where: { !$0.present }) { throw ExitCode(1) }
    }
}
