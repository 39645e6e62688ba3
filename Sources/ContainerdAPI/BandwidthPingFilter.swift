import NIOCore

/// Stops grpc-go's bandwidth-estimation PINGs from closing our connections to containerd.
///
/// containerd's gRPC server (grpc-go) measures the bandwidth-delay product of each connection:
/// whenever DATA arrives and no estimation PING is outstanding, it sends one (payload
/// `02 04 10 10 09 0e 07 07`) and grows its receive window from the bytes that arrived before
/// the ACK. It stops only when its estimate reaches 16 MiB, which the sub-millisecond round
/// trips of a unix socket never allow, so while a blob streams in, containerd sends hundreds of
/// PINGs per second. swift-nio-http2 treats more than 200 PING or SETTINGS frames in 30 s as an
/// attack and closes the connection (`ExcessiveControlFrames`); grpc-swift-nio-transport does
/// not expose that limit. A content Write then broke off after 80–100 MB of every blob.
///
/// This handler sits between the socket and the HTTP/2 handler and reads the inbound frame
/// headers. It lets the first `answered` estimation PINGs through (the HTTP/2 handler ACKs
/// them, so containerd sizes its window) and drops the ones after. grpc-go sends no new
/// estimation PING until the outstanding one is ACKed, so after the first dropped one there are
/// no more on that connection; its window keeps the size estimated so far. Every other frame,
/// keepalive and shutdown PINGs included, passes unchanged.
final class BandwidthPingFilter: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    /// grpc-go's `bdpPing` payload (internal/transport/bdp_estimator.go).
    static let estimationPayload: [UInt8] = [2, 4, 16, 16, 9, 14, 7, 7]
    static let headerLength = 9
    static let pingType: UInt8 = 0x6
    static let ackFlag: UInt8 = 0x1

    /// Estimation PINGs passed to the HTTP/2 handler (and so ACKed) before the rest are dropped.
    let answered: Int
    private(set) var passed = 0
    private(set) var dropped = 0
    /// A frame header being assembled, followed by a PING's payload while deciding on it.
    private var pending: [UInt8] = []
    /// Payload bytes of the current frame still to pass through.
    private var payloadLeft = 0

    init(answered: Int = 32) {
        self.answered = answered
        pending.reserveCapacity(Self.headerLength + 8)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var input = unwrapInboundIn(data)
        var output = context.channel.allocator.buffer(capacity: input.readableBytes)
        while input.readableBytes > 0 {
            if payloadLeft > 0 {
                let count = min(payloadLeft, input.readableBytes)
                var slice = input.readSlice(length: count)!
                output.writeBuffer(&slice)
                payloadLeft -= count
                continue
            }
            let wanted = pendingLength()
            let count = min(wanted - pending.count, input.readableBytes)
            pending.append(contentsOf: input.readBytes(length: count)!)
            guard pending.count == pendingLength() else { continue }
            if pending.count == Self.headerLength + 8 && isPing() {
                // A complete PING: estimation PINGs beyond the budget go no further.
                if Array(pending[Self.headerLength...]) == Self.estimationPayload {
                    if passed >= answered {
                        dropped += 1
                        pending.removeAll(keepingCapacity: true)
                        continue
                    }
                    passed += 1
                }
                output.writeBytes(pending)
            } else {
                output.writeBytes(pending)
                payloadLeft = frameLength()
            }
            pending.removeAll(keepingCapacity: true)
        }
        if output.readableBytes > 0 {
            context.fireChannelRead(wrapInboundOut(output))
        }
    }

    /// How many bytes `pending` must hold before a decision: the header, and for a PING its payload.
    private func pendingLength() -> Int {
        guard pending.count >= Self.headerLength else { return Self.headerLength }
        return isPing() ? Self.headerLength + 8 : Self.headerLength
    }

    /// The header in `pending` is a PING that is not an ACK, with the standard 8-byte payload.
    private func isPing() -> Bool {
        pending[3] == Self.pingType && pending[4] & Self.ackFlag == 0 && frameLength() == 8
    }

    private func frameLength() -> Int {
        Int(pending[0]) << 16 | Int(pending[1]) << 8 | Int(pending[2])
    }
}
