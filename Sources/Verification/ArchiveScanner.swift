import Core
import Tar

/// Everything one pass over an archive learned: its files and links, by normalized path.
public struct ArchiveContents: Sendable {
    public var files: [String: BlobRecord] = [:]
    /// Symlinks and hardlinks: path → normalized target path (nil when the target climbs out).
    public var links: [String: String?] = [:]
    /// Entries whose own names climb above the archive's root.
    public var escapingEntries: [String] = []
    public var bytesRead: Int64 = 0

    /// The file at `path`, following links (at most 16 hops, as the kernel's ELOOP limit is near).
    public func file(at path: String) -> BlobRecord? {
        guard var current = ArchiveScanner.normalize(path) else { return nil }
        for _ in 0..<16 {
            if let file = files[current] { return file }
            guard let link = links[current], let target = link else { return nil }
            current = target
        }
        return nil
    }

    /// Paths of the layer candidates not decoded yet (`LayerDecoding.deferred`).
    public var pendingLayers: [String] {
        files.values.filter { $0.layer?.pending == true }.map(\.path).sorted()
    }

    /// The blob of an OCI layout with this digest (`blobs/sha256/<hex>`).
    public func blob(_ digest: Digest) -> BlobRecord? {
        files[Self.blobPath(digest)]
    }

    /// `blobs/sha256/<hex>`: where an OCI layout keeps a blob.
    public static func blobPath(_ digest: Digest) -> String { "blobs/sha256/\(digest.hex)" }

    /// The digest an OCI layout path `blobs/sha256/<hex>` names; nil for any other path.
    public static func blobDigest(atPath path: String) -> Digest? {
        guard path.hasPrefix("blobs/sha256/") else { return nil }
        return Digest(hex: String(path.dropFirst("blobs/sha256/".count)))
    }
}

/// Receives a copy of every regular file of the archive while it is verified (the importer
/// spools blobs this way, so the archive is read once).
public protocol ArchiveFileSink: AnyObject {
    func fileBegan(path: String) throws
    func fileData(_ bytes: UnsafeRawBufferPointer) throws
    /// The file is complete; `record` is what inspecting it found (its digest among others).
    func fileEnded(_ record: BlobRecord) throws
}

/// Consumes the outer tar stream of an archive and inspects every file in it.
final class ArchiveScanner: TarConsumer {
    private let limits: InspectionLimits
    private let decoding: LayerDecoding
    private let jsonBudget: JSONBudget
    private let sink: (any ArchiveFileSink)?
    private var current: BlobInspector?
    private(set) var contents = ArchiveContents()

    init(limits: InspectionLimits, decoding: LayerDecoding = .inline, sink: (any ArchiveFileSink)? = nil) {
        self.limits = limits
        self.decoding = decoding
        self.sink = sink
        jsonBudget = JSONBudget(total: limits.maxJSONTotal)
    }

    func tarEntryBegan(_ entry: TarEntry) throws {
        guard let path = Self.normalize(entry.path) else {
            contents.escapingEntries.append(entry.path)
            return
        }
        // A later entry of the same path replaces the earlier one, as extraction would.
        contents.files[path] = nil
        contents.links[path] = nil
        switch entry.type {
        case .regular:
            current = BlobInspector(path: path, limits: limits, jsonBudget: jsonBudget, decoding: decoding)
            try sink?.fileBegan(path: path)
        case .symbolicLink:
            let target = entry.linkPath
            let base = target.hasPrefix("/") ? "" : path.split(separator: "/").dropLast().joined(separator: "/")
            contents.links[path] = Self.normalize(base.isEmpty ? target : base + "/" + target)
        case .hardLink:
            contents.links[path] = Self.normalize(entry.linkPath)
        default:
            break
        }
    }

    func tarEntryData(_ bytes: UnsafeRawBufferPointer) throws {
        guard let current else { return }
        current.feed(bytes)
        try sink?.fileData(bytes)
    }

    func tarEntryEnded() throws {
        guard let inspector = current else { return }
        current = nil
        let record = inspector.finish()
        contents.files[record.path] = record
        try sink?.fileEnded(record)
    }

    /// Records how far the outer stream got.
    func noteBytesRead(_ count: Int64) { contents.bytesRead = count }

    /// A path inside the archive in canonical form (`./a//b` → `a/b`); nil when it climbs out.
    static func normalize(_ path: String) -> String? {
        TarPath.cleaned(Array(path.utf8)).map { String(decoding: $0, as: UTF8.self) }
    }
}
