import ContainerdAPI
import Foundation
import GRPCCore
import Testing
import TestSupport

/// `PrivateContainerd(cri: true, criSnapshotter:)` really changes the snapshotter the daemon's CRI
/// uses (1.x: `[plugins."io.containerd.grpc.v1.cri".containerd]`, 2.x:
/// `[plugins."io.containerd.cri.v1.images"]`): CRI's ImageFsInfo names that snapshotter's
/// directory first, as kubelet reads it.
@Suite(.serialized, .enabled(if: getuid() == 0, "needs root to run containerd")) struct PrivateContainerdCRITests {
    @Test(.timeLimit(.minutes(4)), arguments: ["native", "overlayfs"])
    func criImageFilesystemIsTheSnapshotterAsked(snapshotter: String) async throws {
        let daemon = try PrivateContainerd(cri: true, criSnapshotter: snapshotter)
        defer { withExtendedLifetime(daemon) {} }
        let reply = try await ContainerdConnection.withConnection(socket: daemon.socket, namespace: "k8s.io") { containerd in
            try await containerd.client.unary(
                request: ClientRequest(message: [UInt8]()),
                descriptor: MethodDescriptor(fullyQualifiedService: "runtime.v1.ImageService", method: "ImageFsInfo"),
                serializer: RawBytes(), deserializer: RawBytes(), options: .defaults
            ) { try $0.message }
        }
        // ImageFsInfoResponse.image_filesystems (1) → FilesystemUsage.fs_id (2) → mountpoint (1).
        let mountpoints = Self.lengthDelimited(reply[...], field: 1).compactMap { usage in
            Self.lengthDelimited(usage, field: 2).first.flatMap { Self.lengthDelimited($0, field: 1).first }
                .map { String(decoding: $0, as: UTF8.self) }
        }
        #expect(mountpoints.first == "\(daemon.directory)/root/io.containerd.snapshotter.v1.\(snapshotter)", "\(mountpoints)")
    }

    @Test func withoutCRIThereIsNoImageService() async throws {
        let daemon = try PrivateContainerd()
        defer { withExtendedLifetime(daemon) {} }
        let error = await #expect(throws: RPCError.self) {
            try await ContainerdConnection.withConnection(socket: daemon.socket, namespace: "k8s.io") { containerd in
                try await containerd.client.unary(
                    request: ClientRequest(message: [UInt8]()),
                    descriptor: MethodDescriptor(fullyQualifiedService: "runtime.v1.ImageService", method: "ImageFsInfo"),
                    serializer: RawBytes(), deserializer: RawBytes(), options: .defaults
                ) { try $0.message }
            }
        }
        #expect(error?.code == .unimplemented)
    }

    /// A message as its bytes.
    struct RawBytes: MessageSerializer, MessageDeserializer {
        func serialize<Bytes: GRPCContiguousBytes>(_ message: [UInt8]) throws -> Bytes { Bytes(message) }
        func deserialize<Bytes: GRPCContiguousBytes>(_ bytes: Bytes) throws -> [UInt8] {
            bytes.withUnsafeBytes { [UInt8]($0) }
        }
    }

    /// The values of the length-delimited fields numbered `field` in a protobuf message.
    static func lengthDelimited(_ message: ArraySlice<UInt8>, field: Int) -> [ArraySlice<UInt8>] {
        var values: [ArraySlice<UInt8>] = []
        var index = message.startIndex
        func varint() -> Int? {
            var value = 0
            var shift = 0
            while index < message.endIndex, shift < 64 {
                let byte = message[index]
                index += 1
                value |= Int(byte & 0x7f) << shift
                if byte < 0x80 { return value }
                shift += 7
            }
            return nil
        }
        while index < message.endIndex, let key = varint() {
            switch key & 7 {
            case 0: guard varint() != nil else { return values }
            case 1: index += 8
            case 5: index += 4
            case 2:
                guard let length = varint(), length <= message.endIndex - index else { return values }
                if key >> 3 == field { values.append(message[index..<index + length]) }
                index += length
            default: return values
            }
        }
        return values
    }
}
