import CKindShims
import Core

/// gzip decoding with zlib. The only file in the project that touches zlib.
/// Accepts concatenated gzip members (RFC 1952 §2.2), as Go's gzip reader does;
/// anything after a member that is not another member is corrupt data.
/// `Compression.makeDecoder` prefers `IsalGzipDecoder` (ISA-L, faster) where the build has it;
/// this decoder is the fallback and the reference that one is tested against.
public final class GzipDecoder: StreamDecoder {
    /// zlib keeps pointers into its `z_stream`, so it lives at a fixed address.
    private let stream: UnsafeMutablePointer<z_stream>
    private let output: UnsafeMutableRawBufferPointer
    /// The current member reached its end marker.
    private var memberEnded = false
    /// At least one byte of input arrived.
    private var started = false
    private let verifyChecksum: Bool

    /// - Parameter verifyChecksum: false skips each member's CRC-32 check (zlib's
    ///   `inflateValidate`), for input whose SHA-256 is checked anyway.
    public init(outputChunk: Int = 256 << 10, verifyChecksum: Bool = true) throws(DecompressionError) {
        self.verifyChecksum = verifyChecksum
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        output = .allocate(byteCount: outputChunk, alignment: 16)
        let code = kni_inflate_init_gzip(stream)
        guard code == Z_OK else {
            stream.deallocate()
            output.deallocate()
            throw .setup(.gzip, code: Int(code))
        }
        if !verifyChecksum { inflateValidate(stream, 0) }
    }

    deinit {
        inflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
        output.deallocate()
    }

    public func feed(_ input: UnsafeRawBufferPointer, into sink: ByteSink) throws {
        guard let base = input.baseAddress, !input.isEmpty else { return }
        started = true
        var offset = 0
        while offset < input.count {
            if memberEnded {
                // Another member follows: inflate checks its header after the reset.
                inflateReset(stream)
                if !verifyChecksum { inflateValidate(stream, 0) }
                memberEnded = false
            }
            let available = min(input.count - offset, Int(UInt32.max))
            stream.pointee.next_in = UnsafeMutablePointer(
                mutating: (base + offset).assumingMemoryBound(to: Bytef.self))
            stream.pointee.avail_in = UInt32(available)
            try inflateAvailable(into: sink)
            offset += available - Int(stream.pointee.avail_in)
        }
    }

    /// Runs inflate until the input is used up or the member ends.
    private func inflateAvailable(into sink: ByteSink) throws {
        guard let outBase = output.baseAddress else { return }
        while true {
            stream.pointee.next_out = outBase.assumingMemoryBound(to: Bytef.self)
            stream.pointee.avail_out = UInt32(output.count)
            let code = inflate(stream, Z_NO_FLUSH)
            let produced = output.count - Int(stream.pointee.avail_out)
            if produced > 0 {
                try sink(UnsafeRawBufferPointer(rebasing: output[0..<produced]))
            }
            switch code {
            case Z_STREAM_END:
                memberEnded = true
                return
            case Z_OK:
                if stream.pointee.avail_in == 0 && stream.pointee.avail_out > 0 { return }
            case Z_BUF_ERROR:
                // No progress possible: zlib wants more input.
                return
            default:
                let message = stream.pointee.msg.map { String(cString: $0) } ?? "zlib error \(code)"
                throw DecompressionError.corrupt(.gzip, message: message)
            }
        }
    }

    public func finish() throws(DecompressionError) {
        guard started, memberEnded else { throw .truncated(.gzip) }
    }
}
