import Compression
import Core
import Tar

/// What applying one layer produced.
public struct AppliedLayer: Sendable, Equatable {
    /// SHA-256 of the whole uncompressed stream, trailing bytes after the tar end included,
    /// as containerd computes the applied digest (`checking: .diffID`).
    public var diffID: Digest?
    /// SHA-256 of the blob as fed (`checking: .blob`).
    public var blobDigest: Digest?
    public var uncompressedSize: Int64
    public var entries: Int
    public var compression: Compression
}

/// One pass over a layer blob: decompress, hash and apply its entries. Push the blob's bytes
/// with `feed`, then call `finish` to get the digest to check.
public final class LayerApplication {
    /// What the application hashes (on a second core) for the caller to check.
    public enum Check: Sendable {
        /// The uncompressed stream: the diff_id.
        case diffID
        /// The blob as fed, and gzip's CRC-32 is skipped: for a blob whose bytes were already
        /// proven to decompress to the diff_id (decompression is deterministic, so the same
        /// blob digest means the same uncompressed stream), at half the hashing.
        case blob
    }
    private let checking: Check
    private var uncompressedSize: Int64 = 0
    private let applier: LayerApplier
    private let parser: TarParser
    private var compression: Compression?
    private var decoder: (any StreamDecoder)?
    private let digester = BackgroundDigester()
    /// The first bytes, until the compression is known.
    private var head: [UInt8] = []

    /// - Parameter compression: nil detects it from the first bytes.
    public init(
        root: String, mode: ApplyMode, compression: Compression? = nil, useOpenat2: Bool = true, checking: Check = .diffID
    ) throws {
        applier = try LayerApplier(root: root, mode: mode, useOpenat2: useOpenat2)
        parser = TarParser(consumer: applier)
        self.compression = compression
        self.checking = checking
        if let compression { decoder = try compression.makeDecoder(verifyChecksum: checking == .diffID) }
    }

    public func feed(_ bytes: UnsafeRawBufferPointer) throws {
        if checking == .blob { digester.update(bytes) }
        if let decoder {
            try decoder.feed(bytes, into: consume)
            return
        }
        head.append(contentsOf: bytes)
        if head.count >= 4 { try startDecoding() }
    }

    public func finish() throws -> AppliedLayer {
        if decoder == nil { try startDecoding() }
        try decoder?.finish()
        try parser.finish()
        try applier.finish()
        let (digest, _) = digester.finalize()
        return AppliedLayer(
            diffID: checking == .diffID ? digest : nil, blobDigest: checking == .blob ? digest : nil,
            uncompressedSize: uncompressedSize, entries: applier.entryCount, compression: compression ?? .none)
    }

    private func startDecoding() throws {
        let detected = head.withUnsafeBytes { Compression.detect($0) }
        compression = detected
        let decoder = try detected.makeDecoder(verifyChecksum: checking == .diffID)
        self.decoder = decoder
        let bytes = head
        head = []
        try bytes.withUnsafeBytes { try decoder.feed($0, into: consume) }
    }

    private func consume(_ bytes: UnsafeRawBufferPointer) throws {
        if checking == .diffID { digester.update(bytes) }
        uncompressedSize += Int64(bytes.count)
        try parser.feed(bytes)
    }
}
