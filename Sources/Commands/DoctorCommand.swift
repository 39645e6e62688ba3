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

/// `kind-node-import doctor [--fix]`: every image record of the namespace whose image is not
/// fully present, as `ctr images import` leaves them when an unpack fails (the record is written
/// first: kubelet then says "already present on machine" and the pod never starts), or whose
/// manifest or config is gone. `--fix` deletes exactly those records.
public struct DoctorCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "List image records whose image is not fully present (what a failed ctr import leaves); --fix deletes them.",
        discussion: """
            Every image record of the namespace is checked as status checks an image: its target \
            and this platform's manifest and config are in the content store, and every layer is \
            unpacked (a committed snapshot per chain ID) in the snapshotter CRI uses. A record \
            that fails is listed with the reason: layers never unpacked (a failed ctr images \
            import of a defective archive, such as Docker 25.0.0's), or a manifest or config that \
            is gone. CRI's own sha256:<config> records pointing at the same image are checked, \
            and listed, like any other. A layer blob missing under an unpacked layer is no fault \
            (kind's discard_unpacked_layers lets GC take those). A record whose target is no \
            image (an OCI artifact) is shown as skipped and never removed.

            --fix deletes the listed records, each only if it has not changed since it was \
            checked, and prints each removed record's name and target (digest, media type, \
            size) so that it can be created again. Nothing else is deleted: no blob, no \
            snapshot; containerd's GC collects what no record references any more.

            Exit codes: 0 every image record is fully present (with --fix: every listed record \
            was removed), 1 some record is not (with --fix: some were left, changed since the \
            check), 64 usage error, 69 containerd cannot be reached or refused a deletion, or \
            the snapshotter CRI uses cannot be told.
            """
    )

    @OptionGroup var node: NodeOptions

    @Flag(help: "Delete the image records that are not fully present (nothing else).")
    var fix = false

    @Flag(help: "Print one JSON document on standard output: an entry per image record.")
    var json = false

    public init() {}

    public func run() throws {
        let socket = node.socket
        let (namespace, platform) = (node.resolvedNamespace, node.resolvedPlatform)
        let (requested, configPath, fix, json) = (node.snapshotter, node.containerdConfig, fix, json)
        let outcome = Blocking.run {
            try await ContainerdConnection.withConnection(socket: socket, namespace: namespace) { containerd in
                let snapshotter = try await NodeSnapshotter.detect(requested, configPath: configPath, containerd: containerd)
                let presence = ImagePresence(namespace: namespace, snapshotter: snapshotter.name, platform: platform)
                let checks = try await presence.checkRecords(containerd: containerd)
                var outcomes: [Int: RecordRemoval.Outcome] = [:]
                var failure: (name: String, error: RPCError)?
                if fix {
                    for (index, check) in checks.enumerated() where check.verdict == .broken {
                        do {
                            let result = try await RecordRemoval().remove(check, containerd: containerd)
                            outcomes[index] = result
                            // Said at once: the line is what it takes to create the record again.
                            if !json, result == .removed, let line = DoctorEntry(check, outcome: result).line {
                                writeStandardOutput(line + "\n")
                            }
                        } catch let error as RPCError {
                            failure = (check.name, error)
                            break
                        }
                    }
                }
                return (snapshotter.name, checks, outcomes, failure)
            }
        }
        let (snapshotter, checks, outcomes, failure): (String, [RecordCheck], [Int: RecordRemoval.Outcome], (name: String, error: RPCError)?)
        switch outcome {
        case .success(let found):
            (snapshotter, checks, outcomes, failure) = found
        case .failure(let failure as NodeSnapshotter.Failure):
            throw node.snapshotterFailed(failure)
        case .failure(let error as RPCError):
            throw CommandFailure(.unavailable, "containerd at \(socket): \(error.message) (\(error.code))", cause: error).report()
        case .failure(let error):
            throw CommandFailure(.unavailable, "containerd at \(socket): \(error)", cause: error).report()
        }
        let entries = checks.enumerated().map { index, check in DoctorEntry(check, outcome: outcomes[index]) }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            writeStandardOutput(String(decoding: try encoder.encode(entries), as: UTF8.self) + "\n")
        } else {
            // Removed records were printed as they went.
            for entry in entries where !entry.removed {
                if let line = entry.line { writeStandardOutput(line + "\n") }
            }
            writeStandardOutput(
                Self.summary(entries, namespace: namespace, snapshotter: snapshotter, platform: platform, fix: fix) + "\n")
        }
        if let failure {
            let error = failure.error
            throw CommandFailure(
                .unavailable,
                "containerd at \(socket): cannot delete the image record \(failure.name): \(error.message) (\(error.code)); the records not listed as removed are still there",
                cause: error
            ).report()
        }
        if entries.contains(where: \.remains) { throw ExitCode(1) }
    }

    /// The last line: how many records, how many not fully present, how many removed.
    static func summary(
        _ entries: [DoctorEntry], namespace: String, snapshotter: String, platform: Platform, fix: Bool
    ) -> String {
        let broken = entries.filter(\.broken).count
        let skipped = entries.filter { !$0.present && !$0.broken }.count
        var line =
            "doctor: \(entries.count) image record(s) in namespace \(namespace) (snapshotter \(snapshotter), \(platform)): "
            + "\(entries.filter(\.present).count) fully present, \(broken) not"
        if skipped > 0 { line += ", \(skipped) not an image (not checked)" }
        if fix {
            line += ", \(entries.filter(\.removed).count) removed"
            let left = entries.filter(\.remains).count
            if left > 0 { line += ", \(left) left" }
        }
        return line
    }
}
