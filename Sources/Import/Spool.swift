import Core
import POSIX
import Verification

/// A private directory holding a copy of every file of the archive while it is verified, so the
/// archive is read once and containerd sees nothing before the whole archive proved sound.
/// Removed by `remove()` (and `deinit`), on every exit path of the importer. Its failures are
/// `SystemCallError`s naming the spool's path: `write /var/lib/containerd/kni-spool-…/3: …`.
public final class Spool: ArchiveFileSink {
    public let directory: String
    private var files: [String: String] = [:]
    private var current: FileDescriptor?
    private var counter = 0
    /// Called on the reading thread when a file is complete, with what inspecting it found and
    /// its spooled copy.
    public var onFileSpooled: ((BlobRecord, String) -> Void)?
    /// Blobs not to copy (files whose path names one of these digests: `blobs/sha256/<hex>`,
    /// docker-archive's `<hex>.tar`): the node holds what they unpack to (`KnownLayers`). Their
    /// bytes are still hashed by the verifier.
    var skipping: Set<Digest> = []
    /// The archive files not copied, by path, with their digest (the one their path names, and
    /// their bytes have).
    private(set) var skipped: [String: Digest] = [:]
    /// Files not copied whose bytes turned out not to be the blob their name says (a docker
    /// save name is only a name), with the digest their name says: their bytes are not in the
    /// spool, nor known to the node.
    private(set) var misnamed: [String: Digest] = [:]
    private var skippingCurrent = false

    /// Creates `kni-spool-<pid>-XXXXXX` under `parent`, first removing spools of processes that
    /// no longer run (an import killed with SIGKILL cannot remove its own).
    public init(parent: String) throws {
        Self.removeStale(in: parent)
        directory = try FileSystem.makeTemporaryDirectory(prefix: "\(parent)/kni-spool-\(Processes.currentID)-")
    }

    deinit { remove() }

    /// The spooled copy of the archive file at `path` (normalized, as `ArchiveContents` names it).
    public func file(for path: String) -> String? { files[path] }

    /// Spools a document the importer made itself (docker-save's manifest); returns its path.
    func add(_ bytes: [UInt8]) throws -> String {
        try fileBegan(path: "kind-node-import/\(counter + 1)")
        try bytes.withUnsafeBytes { try fileData($0) }
        current = nil
        return "\(directory)/\(counter)"
    }

    /// The digest an archive path names: an OCI layout's `blobs/sha256/<hex>`, or a layer file
    /// `<hex>.tar` at the top of a docker-archive (skopeo's). (docker save ≤ 24's `<id>/layer.tar`
    /// names a layer ID, not a digest.)
    static func namedDigest(_ path: String) -> Digest? {
        if let digest = ArchiveContents.blobDigest(atPath: path) { return digest }
        guard path.hasSuffix(".tar"), !path.contains("/") else { return nil }
        return Digest(hex: String(path.dropLast(4)))
    }

    /// Where a blob read back from containerd goes (`UnpackPhase`, for a skipped layer).
    static func readBackPath(in directory: String, _ digest: Digest) -> String { "\(directory)/read-back-\(digest.hex)" }

    public func fileBegan(path: String) throws {
        if !skipping.isEmpty, let named = Self.namedDigest(path), skipping.contains(named) {
            current = nil
            files[path] = nil
            skipped[path] = named
            skippingCurrent = true
            return
        }
        skipped[path] = nil
        skippingCurrent = false
        counter += 1
        let spooled = "\(directory)/\(counter)"
        current = try FileDescriptor.open(spooled, .writeOnly, options: [.create, .exclusive], permissions: 0o600)
        files[path] = spooled
    }

    public func fileData(_ bytes: UnsafeRawBufferPointer) throws {
        if skippingCurrent { return }
        guard let current else { preconditionFailure("Spool: data before fileBegan") }
        try current.writeAll(bytes)
    }

    public func fileEnded(_ record: BlobRecord) throws {
        current = nil
        if skippingCurrent {
            skippingCurrent = false
            if let named = skipped[record.path], named != record.digest {
                skipped[record.path] = nil
                misnamed[record.path] = named
            }
            return
        }
        if let spooled = files[record.path] { onFileSpooled?(record, spooled) }
    }

    /// Removes `kni-spool-<pid>-*` directories whose process is gone.
    static func removeStale(in parent: String) {
        guard let directory = try? FileDescriptor.open(parent, options: .directory),
            let names = try? directory.entries()
        else { return }
        for name in names {
            let parts = name.split(separator: "-")
            guard parts.count == 4, parts[0] == "kni", parts[1] == "spool", let pid = Int32(parts[2]) else { continue }
            if Processes.isGone(pid) { try? directory.removeTree(name) }
        }
    }

    /// Deletes the spool and everything in it.
    public func remove() {
        current = nil
        files.removeAll()
        try? FileSystem.removeTree(directory)
    }
}
