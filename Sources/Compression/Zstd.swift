import CKindShims
import Core

/// zstd decoding with libzstd. The only file in the project that touches libzstd.
/// Concatenated frames are decoded in sequence, as the zstd format allows; skippable frames are
/// skipped, and frames of the legacy formats (zstd < 0.8) are refused, as containerd refuses them.
///
/// The verdict on a stream must not depend on how its input is chunked (verify and the applier
/// read the same blob in different chunks). libzstd takes a single-pass shortcut when a whole
/// frame reaches it in one call with room for its output, and that path checks more than the
/// streaming one does (a frame's declared content size, empty compressed blocks). So libzstd
/// gets the first byte of every frame alone, which keeps it on the streaming path always, and
/// the decoder checks the declared content size itself: a frame that states it must decode to
/// exactly that many bytes.
public final class ZstdDecoder: StreamDecoder {
    private let context: OpaquePointer
    private let output: UnsafeMutableRawBufferPointer
    /// libzstd's last hint: 0 once a frame is complete and fully flushed.
    private var pending: Int = 1
    /// The first bytes of the current frame, until its header gives the content size.
    private var frameHeader: [UInt8] = []
    /// The current frame's declared content size once known; `.max` when it declares none.
    private var frameContentSize: UInt64?
    /// Bytes the current frame decoded to so far.
    private var frameOutput: UInt64 = 0

    /// `ZSTD_FRAMEHEADERSIZE_MAX`: a frame header is never longer.
    private static let maxFrameHeader = 18
    /// `ZSTD_CONTENTSIZE_UNKNOWN` and `ZSTD_CONTENTSIZE_ERROR` (macros Swift does not import).
    private static let contentSizeUnknown = UInt64.max
    private static let contentSizeError = UInt64.max - 1

    /// - Parameter outputChunk: bytes of output handed to the sink at most at once; nil is
    ///   libzstd's recommendation (`ZSTD_DStreamOutSize`, one block).
    public init(outputChunk: Int? = nil) throws(DecompressionError) {
        guard let context = ZSTD_createDCtx() else { throw .setup(.zstd, code: 0) }
        self.context = context
        output = .allocate(byteCount: max(1, outputChunk ?? ZSTD_DStreamOutSize()), alignment: 16)
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
            try checkFrameMagic(UnsafeRawBufferPointer(start: base + source.pos, count: source.size - source.pos))
            // A frame's first byte alone: its header then spans two calls, and libzstd streams it.
            let inputEnd = source.size
            if frameHeader.isEmpty && frameContentSize == nil && inputEnd - source.pos > 1 { source.size = source.pos + 1 }
            let result = ZSTD_decompressStream(context, &target, &source)
            source.size = inputEnd
            if ZSTD_isError(result) != 0 {
                throw DecompressionError.corrupt(.zstd, message: String(cString: ZSTD_getErrorName(result)))
            }
            // Everything one call consumes belongs to one frame: libzstd stops at a frame's end.
            noteFrameInput(UnsafeRawBufferPointer(start: base + consumedBefore, count: source.pos - consumedBefore))
            frameOutput += UInt64(target.pos)
            if result == 0 { try endFrame() }
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

    /// Refuses a frame that is neither a zstd frame nor a skippable one as soon as its first
    /// bytes (`upcoming`, the input libzstd is about to read) show it, before libzstd sees them.
    /// libzstd also decodes the legacy formats of zstd before 0.8 (magic `22`…`27 b5 2f fd`);
    /// containerd does not, and the legacy decoder's verdict can depend on the chunks.
    private func checkFrameMagic(_ upcoming: UnsafeRawBufferPointer) throws(DecompressionError) {
        guard frameContentSize == nil, frameHeader.count < 4, !upcoming.isEmpty else { return }
        let magic = frameHeader + upcoming.prefix(4 - frameHeader.count)
        let zstd: [UInt8] = [0x28, 0xb5, 0x2f, 0xfd]
        let skippable: [UInt8] = [0x50, 0x2a, 0x4d, 0x18]
        let isZstd = magic.elementsEqual(zstd.prefix(magic.count))
        let isSkippable =
            magic[0] & 0xf0 == 0x50 && magic.dropFirst().elementsEqual(skippable.dropFirst().prefix(magic.count - 1))
        guard isZstd || isSkippable else {
            throw .corrupt(.zstd, message: "not a zstd frame (its magic number is not 28 b5 2f fd)")
        }
    }

    /// Keeps the current frame's first bytes until its header states the content size.
    private func noteFrameInput(_ bytes: UnsafeRawBufferPointer) {
        guard frameContentSize == nil, !bytes.isEmpty else { return }
        frameHeader.append(contentsOf: bytes.prefix(Self.maxFrameHeader - frameHeader.count))
        let size = frameHeader.withUnsafeBytes { ZSTD_getFrameContentSize($0.baseAddress, $0.count) }
        if size != Self.contentSizeError {
            // A skippable frame has no content: 0, which is also what it decodes to.
            frameContentSize = size
        } else if frameHeader.count == Self.maxFrameHeader {
            // Not a frame header at all: libzstd reports that itself.
            frameContentSize = Self.contentSizeUnknown
        }
    }

    /// A frame ended: it must have decoded to the content size its header states.
    private func endFrame() throws(DecompressionError) {
        let declared = frameContentSize
        frameHeader = []
        frameContentSize = nil
        let decoded = frameOutput
        frameOutput = 0
        guard let declared, declared != Self.contentSizeUnknown, declared != decoded else { return }
        throw .corrupt(.zstd, message: "the frame decodes to \(decoded) bytes, its header states \(declared)")
    }
}
