import Compression
import Core
import Tar

/// What applying one layer produced.
public struct AppliedLayer: Sendable, Equatable {
    /// SHA-256 of the whole uncompressed stream, trailing bytes after the tar end included,
    /// as containerd computes the applied digest.
    public var diffID: Digest
    public var uncompressedSize: Int64
    public var entries: Int
    public var compression: Compression
}

/// One pass over a layer blob: decompress, hash the uncompressed stream and apply its entries.
/// Push the blob's bytes with `feed`, then call `finish` to get the diff_id to check.
public final class LayerApplication {
    private let applier: LayerApplier
    private let parser: TarParser
    private var compression: Compression?
    private var decoder: (any StreamDecoder)?
    private let digester = BackgroundDigester()
    /// The first bytes, until the compression is known.
    private var head: [UInt8] = []

    /// - Parameter compression: nil detects it from the first bytes.
    public init(root: String, mode: ApplyMode, compression: Compression? = nil, useOpenat2: Bool = true) throws {
        applier = try LayerApplier(root: root, mode: mode, useOpenat2: useOpenat2)
        parser = TarParser(consumer: applier)
        self.compression = compression
        if let compression { decoder = try compression.makeDecoder() }
    }

    public func feed(_ bytes: UnsafeRawBufferPointer) throws {
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
        let (diffID, size) = digester.finalize()
        return AppliedLayer(
            diffID: diffID, uncompressedSize: size, entries: applier.entryCount, compression: compression ?? .none)
    }

    private func startDecoding() throws {
        let detected = head.withUnsafeBytes { Compression.detect($0) }
        compression = detected
        let decoder = try detected.makeDecoder()
        self.decoder = decoder
        let bytes = head
        head = []
        try bytes.withUnsafeBytes { try decoder.feed($0, into: consume) }
    }

    private func consume(_ bytes: UnsafeRawBufferPointer) throws {
        digester.update(bytes)
        try parser.feed(bytes)
    }
}
