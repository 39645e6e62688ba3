import ArgumentParser

/// `kind-node-import`: verified, atomic image import for Kind nodes.
public struct RootCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "kind-node-import",
        abstract: "Verify image archives and import them atomically into a Kind node's containerd.",
        discussion: """
            Replaces `ctr images import` inside Kind nodes: every blob digest and every layer's \
            diff_id is checked before anything is committed, so a defective archive (such as the \
            ones Docker 25.0.0's `docker save` wrote) leaves no image record behind.
            """,
        version: "0.1.0",
        subcommands: [VerifyCommand.self, ImportCommand.self, StatusCommand.self, DoctorCommand.self, ApplyLayerCommand.self]
    )

    public init() {}
}
