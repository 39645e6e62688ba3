import ArgumentParser
import Core
import LayerApplier
import POSIX

/// `kind-node-import apply-layer LAYER DIR`: the layer applier on its own, for debugging and
/// benchmarks; `import` applies layers into snapshots itself.
public struct ApplyLayerCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "apply-layer",
        abstract: "Apply one layer (tar, gzip or zstd) to a directory, as containerd's applier would.",
        discussion: """
            Prints the layer's diff_id (the SHA-256 of its uncompressed stream). Every path is \
            resolved inside DIR: no entry, symlink or hardlink can reach outside it. With \
            --lower, DIR is taken as an overlayfs upper directory above those lower directories \
            (nearest first): whiteouts become 0/0 character devices and opaque directories get \
            trusted.overlay.opaque=y. Without it, whiteouts delete what is below.

            Exit codes: 0 applied, 65 the layer is invalid or hostile, 66 the input cannot be \
            opened, 74 read or write error.
            """
    )

    @Argument(help: "The layer blob: a path, or - for standard input.")
    var layer: String

    @Argument(help: "The directory to apply it to (must exist).")
    var directory: String

    @Option(name: .customLong("lower"), help: "An overlayfs lower directory (repeat, nearest first).")
    var lowers: [String] = []

    @Flag(help: "Treat DIR as an overlayfs upper directory even without lower directories.")
    var overlay = false

    @Flag(help: "The overlay mount uses userxattr: mark opaque directories with user.overlay.opaque.")
    var userxattr = false

    public init() {}

    public func run() throws {
        let input = try openInput(layer)
        let overlayMode = overlay || userxattr || !lowers.isEmpty
        let mode: ApplyMode = overlayMode ? .overlayUpper(lowers: lowers, userXattr: userxattr) : .plain
        do {
            let application = try LayerApplication(root: directory, mode: mode)
            try input.forEachChunk { try application.feed($0) }
            let applied = try application.finish()
            writeStandardOutput("\(applied.diffID.description)\n")
            writeStandardError(
                "applied \(applied.entries) entries, \(formatBytes(applied.uncompressedSize)) uncompressed (\(applied.compression))\n")
        } catch let error as InputError {
            throw CommandFailure(error).report()
        } catch {
            throw CommandFailure(error, doing: layer).report()
        }
    }
}
