import CKindShims
import Core

/// zstd decoding with libzstd. The only file in the project that touches libzstd.
/// Concatenated frames are decoded in sequence, as the zstd format allows.
public final class ZstdDecoder: StreamDecoder {
    private let context: OpaquePointer
    private let output: UnsafeMutableRawBufferPointer
    /// libzstd's last hint: 0 once a frame is complete and fully flushed.
    private var pending: Int = 1

    public init() throws(DecompressionError) {
        guard let context = ZSTD_createDCtx() else { throw .setup(.zstd, code: 0) }
        self.context = context
        output = .allocate(byteCount: ZSTD_DStreamOutSize(), alignment: 16)
    }

    deinit {
        ZSTD_freeDCtx(context)
        output.deallocate()
    }

    public func feed(_ input: UnsafeRawBufferPointer, into sink: ByteSink) throws {
        guard let base = input.baseAddress, !input.isEmpty, let outBase = output.baseAddress else { return }
        var source = ZSTD_inBuffer(src: base, size: input.count, pos: 0)
        while true {
            var target = ZSTD_outBuffer(dst: outBase, size: output.count, pos: 0)
            let consumedBefore = source.pos
            let result = ZSTD_decompressStream(context, &target, &source)
            if ZSTD_isError(result) != 0 {
                throw DecompressionError.corrupt(.zstd, message: String(cString: ZSTD_getErrorName(result)))
            }
            // A call that neither read nor wrote after a finished frame only announces the next
            // frame's header size; the stream is still complete.
            if result == 0 || source.pos > consumedBefore || target.pos > 0 { pending = result }
            if target.pos > 0 {
                try sink(UnsafeRawBufferPointer(rebasing: output[0..<target.pos]))
            }
            // Done with this input once it is consumed and the decoder did not fill the output.
            if source.pos == source.size && target.pos < target.size { return }
        }
    }

    public func finish() throws(DecompressionError) {
        guard pending == 0 else { throw .truncated(.zstd) }
    }
}
