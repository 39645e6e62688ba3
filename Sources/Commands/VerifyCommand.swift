import ArgumentParser
import Core
import OCI
import Verification

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `kind-node-import verify [ARCHIVE | -]`
public struct VerifyCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check that an image archive is complete and consistent, without importing it.",
        discussion: """
            Reads a docker-save or OCI archive once, as a stream: every blob is hashed, every layer \
            decompressed (gzip, zstd or none) and compared with the config's rootfs.diff_ids, every \
            layer entry checked to stay inside the layer's root.

            Exit codes: 0 consistent, 65 inconsistent or hostile archive, 66 the input cannot be \
            opened, 74 read error, 64 usage error.
            """
    )

    @Argument(help: "The archive to read: a path, or - for standard input.")
    var archive: String = "-"

    @Option(help: "The platform that must be complete, os/arch[/variant] (default: this machine's).")
    var platform: String?

    @Flag(help: "Print the report as JSON on standard output.")
    var json = false

    public init() {}

    public mutating func validate() throws {
        if let platform, Platform(parsing: platform) == nil {
            throw ValidationError("--platform must look like os/arch[/variant], e.g. linux/amd64; got \"\(platform)\"")
        }
    }

    public func run() throws {
        let input = try openInput(archive)
        let verifier = ArchiveVerifier(platform: platform.flatMap(Platform.init(parsing:)) ?? .current)
        let progress = ProgressLine()
        let report: VerificationReport
        do {
            report = try verifier.verify(input) { bytes in
                progress.update("verifying \(input.name): \(formatBytes(bytes)) read")
            }.report
            progress.clear()
        } catch {
            progress.clear()
            throw CommandFailure(error).report()
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            let data = try encoder.encode(report)
            writeStandardOutput(String(decoding: data, as: UTF8.self) + "\n")
        } else {
            for image in report.images { writeStandardOutput(Self.line(for: image) + "\n") }
        }
        for problem in report.problems {
            writeStandardError("\(problem.severity.rawValue): \(problem)\n")
        }
        writeStandardError(Self.summary(of: report) + "\n")
        if !report.consistent { throw ExitCode(ExitStatus.dataError.rawValue) }
    }

    /// `ok  NAMES  PLATFORM  manifest=…  config=…  layers=N  size=…  unpacked=…`
    static func line(for image: ImageReport) -> String {
        [
            image.consistent ? "ok" : "INVALID",
            image.names.isEmpty ? "<unnamed>" : image.names.joined(separator: ","),
            image.platform ?? "unknown-platform",
            "manifest=\(image.manifest?.description ?? "none")",
            "config=\(image.config?.description ?? "none")",
            "layers=\(image.layers.count)",
            "size=\(formatBytes(image.size))",
            "unpacked=\(formatBytes(image.uncompressedSize))",
        ].joined(separator: "  ")
    }

    static func summary(of report: VerificationReport) -> String {
        let errors = report.problems.filter { $0.severity == .error }.count
        let images = report.images.count == 1 ? "1 image" : "\(report.images.count) images"
        let read = formatBytes(report.bytesRead)
        if errors == 0 {
            return "\(report.archive): consistent (\(images), \(read) read)"
        }
        return "\(report.archive): INCONSISTENT, \(errors) error\(errors == 1 ? "" : "s") (\(images), \(read) read)"
    }
}

/// Opens a command's input (`-` is standard input); a failure ends the command with exit 66.
func openInput(_ path: String) throws -> InputFile {
    do {
        return try InputFile(path: path)
    } catch {
        throw CommandFailure(error).report()
    }
}
