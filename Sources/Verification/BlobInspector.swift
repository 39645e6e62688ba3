import Compression
import Core
import Tar

/// What one pass over a file of the archive learned about it.
public struct BlobRecord: Sendable {
    /// The file's path inside the archive.
    public var path: String
    public var size: Int64
    /// SHA-256 of the file's bytes as stored.
    public var digest: Digest
    /// The compression its first bytes announce.
    public var compression: Compression
    /// Set when the file decoded as a tar stream (a layer candidate).
    public var layer: LayerFacts?
    public var json: JSONBody
}

/// A file kept in memory because it may be a JSON document (index, manifest, config).
public enum JSONBody: Sendable {
    case kept([UInt8])
    /// Larger than one document may be.
    case tooLarge
    /// Not kept because the archive's documents together passed their limit.
    case overTotalLimit
    /// Does not start like a JSON document.
    case notJSON
}

/// What decoding a layer candidate found.
public struct LayerFacts: Sendable {
    /// SHA-256 of the uncompressed tar stream (the diff_id it really has); nil when decoding
    /// failed, or when it is `pending` and compressed.
    public var diffID: Digest?
    public var uncompressedSize: Int64
    public var entryCount: Int
    /// Why decoding stopped early (corrupt compressed data, broken tar headers, truncation).
    public var failure: String?
    /// Hostile or unsupported entries found inside the layer.
    public var entryProblems: [LayerEntryProblem]
    /// Not decoded yet (`LayerDecoding.deferred`): the import decodes it once, when it applies
    /// it or inspects its spooled copy, and completes the verdict with what it found. An
    /// uncompressed candidate already has its diff_id (its stored digest).
    public var pending = false

    public init(
        diffID: Digest?, uncompressedSize: Int64, entryCount: Int, failure: String? = nil,
        entryProblems: [LayerEntryProblem] = [], pending: Bool = false
    ) {
        self.diffID = diffID
        self.uncompressedSize = uncompressedSize
        self.entryCount = entryCount
        self.failure = failure
        self.entryProblems = entryProblems
        self.pending = pending
    }
}

/// When the pass over an archive decodes its layer candidates.
public enum LayerDecoding: Sendable {
    /// As they stream past: `verify`, which has no other use for their bytes.
    case inline
    /// Not at all: the import decodes each layer once, when it applies it (the spool keeps the
    /// blob), instead of once to verify and once more to apply.
    case deferred
}

/// An entry of a layer that must not be applied.
public struct LayerEntryProblem: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case pathEscape = "layer-path-escape"
        case hardlinkEscape = "layer-hardlink-escape"
        case badWhiteout = "layer-bad-whiteout"
        case unsupportedEntry = "layer-unsupported-entry"
    }

    public var kind: Kind
    public var path: String
    public var detail: String
}

/// Limits that keep a hostile archive from growing memory.
public struct InspectionLimits: Sendable {
    /// Largest JSON document kept (index, manifest, config, manifest.json).
    public var maxJSONDocument: Int
    /// All kept documents together.
    public var maxJSONTotal: Int
    /// Problems recorded per layer before the rest are only counted.
    public var maxEntryProblems: Int

    public init(maxJSONDocument: Int = 8 << 20, maxJSONTotal: Int = 64 << 20, maxEntryProblems: Int = 16) {
        self.maxJSONDocument = maxJSONDocument
        self.maxJSONTotal = maxJSONTotal
        self.maxEntryProblems = maxEntryProblems
    }
}

/// Runs one archive file through every check that can be made without knowing its role:
/// the stored digest; for gzip, zstd or tar data, decompression, the uncompressed digest and a
/// scan of the tar entries; for JSON-looking files, a copy in memory (bounded).
final class BlobInspector {
    private let path: String
    private let limits: InspectionLimits
    private let decoding: LayerDecoding
    private var raw = Digester()
    /// The first bytes, until the kind of file is known.
    private var prefix: [UInt8] = []
    private var decided = false
    private var compression = Compression.none
    private var json: [UInt8]?
    private var jsonState = JSONBody.notJSON
    private var layer: LayerPipeline?
    /// A layer candidate whose decoding is deferred.
    private var pendingLayer = false
    /// Budget shared by all inspectors of one archive.
    private let jsonBudget: JSONBudget

    init(path: String, limits: InspectionLimits, jsonBudget: JSONBudget, decoding: LayerDecoding = .inline) {
        self.path = path
        self.limits = limits
        self.jsonBudget = jsonBudget
        self.decoding = decoding
    }

    func feed(_ bytes: UnsafeRawBufferPointer) {
        raw.update(bytes)
        if decided {
            process(bytes)
            return
        }
        prefix.append(contentsOf: bytes)
        if prefix.count >= TarParser.blockSize { decide() }
    }

    func finish() -> BlobRecord {
        if !decided { decide() }
        var facts: LayerFacts?
        if let layer {
            facts = layer.finish()
            // An uncompressed layer's diff_id is its stored digest; it was hashed once.
            if compression == .none, facts?.failure == nil { facts?.diffID = raw.finalize() }
        } else if pendingLayer {
            facts = LayerFacts(
                diffID: compression == .none ? raw.finalize() : nil, uncompressedSize: compression == .none ? raw.count : 0,
                entryCount: 0, pending: true)
        }
        if let json { jsonState = .kept(json) }
        return BlobRecord(
            path: path, size: raw.count, digest: raw.finalize(), compression: compression, layer: facts,
            json: jsonState)
    }

    private func decide() {
        decided = true
        let head = prefix
        prefix = []
        head.withUnsafeBytes { bytes in
            compression = Compression.detect(bytes)
            if compression != .none || Self.looksLikeTar(bytes) {
                switch decoding {
                case .inline: layer = LayerPipeline(compression: compression, limits: limits)
                case .deferred: pendingLayer = true
                }
            } else if Self.looksLikeJSON(bytes) {
                json = []
                jsonState = .kept([])
            }
            process(bytes)
        }
    }

    private func process(_ bytes: UnsafeRawBufferPointer) {
        if let layer {
            layer.feed(bytes)
        } else if json != nil {
            keepJSON(bytes)
        }
    }

    private func keepJSON(_ bytes: UnsafeRawBufferPointer) {
        guard let kept = json else { return }
        if kept.count + bytes.count > limits.maxJSONDocument {
            jsonBudget.release(kept.count)
            json = nil
            jsonState = .tooLarge
        } else if !jsonBudget.take(bytes.count) {
            jsonBudget.release(kept.count)
            json = nil
            jsonState = .overTotalLimit
        } else {
            json?.append(contentsOf: bytes)
        }
    }

    /// ustar/GNU magic at offset 257, or an all-zero first block (an empty layer).
    static func looksLikeTar(_ head: UnsafeRawBufferPointer) -> Bool {
        guard head.count >= TarParser.blockSize else { return false }
        if head[257..<262].elementsEqual("ustar".utf8) { return true }
        return head[0..<TarParser.blockSize].allSatisfy { $0 == 0 }
    }

    static func looksLikeJSON(_ head: UnsafeRawBufferPointer) -> Bool {
        let first = head.first { ![0x20, 0x09, 0x0a, 0x0d].contains($0) }
        return first == UInt8(ascii: "{") || first == UInt8(ascii: "[")
    }
}

/// The bytes of JSON documents kept for one archive, against `maxJSONTotal`.
final class JSONBudget {
    private var remaining: Int

    init(total: Int) { remaining = total }

    func take(_ count: Int) -> Bool {
        guard count <= remaining else { return false }
        remaining -= count
        return true
    }

    func release(_ count: Int) { remaining += count }
}

/// Decompresses a layer candidate, hashes the uncompressed stream and scans its entries.
/// Errors stop decoding but never the outer pass: they become `LayerFacts.failure`.
private final class LayerPipeline {
    private let decoder: (any StreamDecoder)?
    private let hashesOutput: Bool
    private var uncompressed = Digester()
    private let scan: LayerScan
    private let parser: TarParser
    private var failure: String?

    init(compression: Compression, limits: InspectionLimits) {
        scan = LayerScan(maxProblems: limits.maxEntryProblems)
        parser = TarParser(consumer: scan)
        hashesOutput = compression != .none
        do {
            decoder = try compression.makeDecoder()
        } catch {
            decoder = nil
            failure = error.description
        }
    }

    func feed(_ bytes: UnsafeRawBufferPointer) {
        guard failure == nil, let decoder else { return }
        do {
            try decoder.feed(bytes) { output in
                if hashesOutput { uncompressed.update(output) }
                try parser.feed(output)
            }
        } catch {
            failure = "\(error)"
        }
    }

    func finish() -> LayerFacts {
        if failure == nil, let decoder {
            do {
                try decoder.finish()
                try parser.finish()
            } catch {
                failure = "\(error)"
            }
        }
        return LayerFacts(
            diffID: failure == nil && hashesOutput ? uncompressed.finalize() : nil,
            uncompressedSize: hashesOutput ? uncompressed.count : parser.offset,
            entryCount: scan.entryCount,
            failure: failure,
            entryProblems: scan.problems)
    }
}

/// Checks each entry of a layer: names and hardlink targets stay inside the root, whiteouts
/// name an entry of their own directory, entry types are ones an applier can create.
public final class LayerScan: TarConsumer {
    public private(set) var entryCount = 0
    public private(set) var problems: [LayerEntryProblem] = []
    private let maxProblems: Int

    public init(maxProblems: Int = InspectionLimits().maxEntryProblems) { self.maxProblems = maxProblems }

    public func tarEntryBegan(_ entry: TarEntry) throws {
        entryCount += 1
        guard let components = TarPath.normalize(entry.name) else {
            record(.pathEscape, entry.path, "the path climbs above the layer's root")
            return
        }
        if entry.type == .hardLink, TarPath.normalize(entry.linkName) == nil {
            record(.hardlinkEscape, entry.path, "hardlink target \"\(entry.linkPath)\" climbs above the layer's root")
        }
        if case .unsupported = entry.type {
            record(.unsupportedEntry, entry.path, "\(entry.type) cannot be applied")
        }
        if let base = components.last, base.starts(with: Array(".wh.".utf8)) {
            let target = base.dropFirst(4)
            if target.isEmpty || target.elementsEqual(".".utf8) || target.elementsEqual("..".utf8) {
                record(.badWhiteout, entry.path, "the whiteout does not name an entry of its directory")
            }
        }
    }

    public func tarEntryData(_ bytes: UnsafeRawBufferPointer) throws {}

    public func tarEntryEnded() throws {}

    private func record(_ kind: LayerEntryProblem.Kind, _ path: String, _ detail: String) {
        guard problems.count < maxProblems else { return }
        problems.append(LayerEntryProblem(kind: kind, path: path, detail: detail))
    }
}
