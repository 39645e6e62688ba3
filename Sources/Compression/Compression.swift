import Core

/// How a layer blob is compressed. Detected from its first bytes and cross-checked
/// against the media type of the descriptor that names it.
public enum Compression: String, Sendable, Codable, CustomStringConvertible {
    case none
    case gzip
    case zstd

    public var description: String { rawValue }

    /// The compression a blob's first bytes announce: gzip `1f 8b`, zstd frame `28 b5 2f fd`,
    /// anything else is taken as uncompressed.
    public static func detect(_ prefix: UnsafeRawBufferPointer) -> Compression {
        if prefix.count >= 2, prefix[0] == 0x1f, prefix[1] == 0x8b { return .gzip }
        if prefix.count >= 4, prefix[0] == 0x28, prefix[1] == 0xb5, prefix[2] == 0x2f, prefix[3] == 0xfd {
            return .zstd
        }
        return .none
    }

    /// A fresh decoder for this compression; `none` passes bytes through. gzip inflates with
    /// ISA-L (`IsalGzipDecoder`) where the build has it, else with zlib (`GzipDecoder`).
    /// - Parameter verifyChecksum: false skips gzip's CRC-32 and ISIZE checks.
    public func makeDecoder(verifyChecksum: Bool = true) throws(DecompressionError) -> any StreamDecoder {
        switch self {
        case .none: return PassthroughDecoder()
        case .gzip:
            #if canImport(CISAL)
            return try IsalGzipDecoder(verifyChecksum: verifyChecksum)
            #else
            return try GzipDecoder(verifyChecksum: verifyChecksum)
            #endif
        case .zstd: return try ZstdDecoder()
        }
    }
}

/// A streaming decoder: bytes are pushed in with `feed`, output leaves through the sink.
public protocol StreamDecoder: AnyObject {
    /// Decodes `input`, calling `sink` for every chunk of output it produces.
    func feed(_ input: UnsafeRawBufferPointer, into sink: ByteSink) throws
    /// Declares the end of the input; throws when the compressed stream was incomplete.
    func finish() throws(DecompressionError)
}

/// Why a compressed stream could not be decoded.
public enum DecompressionError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The decoder could not be set up (out of memory); carries the library's code.
    case setup(Compression, code: Int)
    /// The data is not valid for this compression; carries the library's message.
    case corrupt(Compression, message: String)
    /// The input ended before the compressed stream did.
    case truncated(Compression)

    public var description: String {
        switch self {
        case .setup(let kind, let code): return "cannot set up the \(kind) decoder (code \(code))"
        case .corrupt(let kind, let message): return "corrupt \(kind) data: \(message)"
        case .truncated(let kind): return "\(kind) stream ends before its end marker (truncated)"
        }
    }
}

/// The decoder for uncompressed blobs.
final class PassthroughDecoder: StreamDecoder {
    func feed(_ input: UnsafeRawBufferPointer, into sink: ByteSink) throws {
        if !input.isEmpty { try sink(input) }
    }

    func finish() throws(DecompressionError) {}
}
