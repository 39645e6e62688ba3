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

/// One pass over a layer blob: decompress, hash (on a second core) and apply its entries. Push
/// the blob's bytes with `feed`, then call `finish` to get the diff_id to check.
public final class LayerApplication {
    private let verifyingChecksum: Bool
    private var uncompressedSize: Int64 = 0
    private let applier: LayerApplier
    private let parser: TarParser
    private var compression: Compression?
    private var decoder: (any StreamDecoder)?
    private let digester = BackgroundDigester()
    /// The first bytes, until the compression is known.
    private var head: [UInt8] = []

    /// - Parameters:
    ///   - compression: nil detects it from the first bytes.
    ///   - verifyingChecksum: false skips gzip's CRC-32, for a caller that checks the diff_id,
    ///     which any damage the CRC would catch changes too.
    ///   - screen: sees every entry before the applier does; an error it throws stops the
    ///     application before that entry is applied (the import's check of hostile entries).
    public init(
        root: String, mode: ApplyMode, compression: Compression? = nil, useOpenat2: Bool = true, verifyingChecksum: Bool = true,
        screen: (any TarConsumer)? = nil
    ) throws {
        let applier = try LayerApplier(root: root, mode: mode, useOpenat2: useOpenat2)
        self.applier = applier
        parser = TarParser(consumer: screen.map { Screened(screen: $0, applier: applier) } ?? applier)
        self.compression = compression
        self.verifyingChecksum = verifyingChecksum
        if let compression { decoder = try compression.makeDecoder(verifyChecksum: verifyingChecksum) }
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
        let (digest, _) = digester.finalize()
        return AppliedLayer(
            diffID: digest,
            uncompressedSize: uncompressedSize, entries: applier.entryCount, compression: compression ?? .none)
    }

    private func startDecoding() throws {
        let detected = head.withUnsafeBytes { Compression.detect($0) }
        compression = detected
        let decoder = try detected.makeDecoder(verifyChecksum: verifyingChecksum)
        self.decoder = decoder
        let bytes = head
        head = []
        try bytes.withUnsafeBytes { try decoder.feed($0, into: consume) }
    }

    private func consume(_ bytes: UnsafeRawBufferPointer) throws {
        digester.update(bytes)
        uncompressedSize += Int64(bytes.count)
        try parser.feed(bytes)
    }
}

/// An applier behind a screen: each entry goes to the screen first.
private final class Screened: TarConsumer {
    let screen: any TarConsumer
    let applier: LayerApplier

    init(screen: any TarConsumer, applier: LayerApplier) {
        self.screen = screen
        self.applier = applier
    }

    func tarEntryBegan(_ entry: TarEntry) throws {
        try screen.tarEntryBegan(entry)
        try applier.tarEntryBegan(entry)
    }

    func tarEntryData(_ bytes: UnsafeRawBufferPointer) throws { try applier.tarEntryData(bytes) }

    func tarEntryEnded() throws { try applier.tarEntryEnded() }
}
