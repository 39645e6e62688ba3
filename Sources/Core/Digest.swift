import Crypto
import Dispatch

/// A content digest as OCI writes it: `sha256:<64 lowercase hex>`.
/// Mirrors image-spec `descriptor.md` ("Digests"); only sha256 is supported, like containerd's default.
public struct Digest: Hashable, Sendable, Comparable, CustomStringConvertible, Codable {
    public let hex: String

    public static let algorithm = "sha256"

    /// Parses `sha256:<hex>`; nil when the string is not a well-formed sha256 digest.
    public init?(parsing text: String) {
        guard text.hasPrefix("sha256:") else { return nil }
        self.init(hex: String(text.dropFirst(7)))
    }

    /// From 64 lowercase hex characters; nil otherwise.
    public init?(hex: String) {
        guard hex.utf8.count == 64,
            hex.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) })
        else { return nil }
        self.hex = hex
    }

    /// For hex this module produced itself.
    fileprivate init(trustedHex: String) { self.hex = trustedHex }

    public var description: String { "sha256:\(hex)" }

    /// The first 12 hex characters, as `docker images` shows them.
    public var short: String { String(hex.prefix(12)) }

    public static func < (lhs: Digest, rhs: Digest) -> Bool { lhs.hex < rhs.hex }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let digest = Digest(parsing: text) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "not a sha256 digest: \(text.prefix(80))"))
        }
        self = digest
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    /// The digest of a byte buffer held in memory (JSON documents, test data).
    public static func of(_ bytes: some Sequence<UInt8>) -> Digest {
        var digester = Digester()
        Array(bytes).withUnsafeBytes { digester.update($0) }
        return digester.finalize()
    }
}

/// Incremental SHA-256 over a byte stream that also counts the bytes it saw.
public struct Digester {
    private var hash = SHA256()
    public private(set) var count: Int64 = 0

    public init() {}

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        hash.update(bufferPointer: bytes)
        count += Int64(bytes.count)
    }

    public func finalize() -> Digest {
        let bytes = hash.finalize()
        var hex = ""
        hex.reserveCapacity(64)
        let digits = Array("0123456789abcdef".utf8)
        for byte in bytes {
            hex.unicodeScalars.append(UnicodeScalar(digits[Int(byte >> 4)]))
            hex.unicodeScalars.append(UnicodeScalar(digits[Int(byte & 0x0f)]))
        }
        return Digest(trustedHex: hex)
    }
}

/// A `Digester` that hashes on its own serial queue, so hashing overlaps with the caller's work
/// (unpacking a layer hashes and writes the same bytes; on two cores the hash then costs
/// almost nothing). Chunks are copied into a ring of `depth` preallocated buffers: the caller
/// waits only when all of them are still being hashed.
public final class BackgroundDigester: @unchecked Sendable {
    private let queue = DispatchQueue(label: "kind-node-import.digest")
    /// Free buffers. The queue finishes them in order, so a free slot is always `buffers[next]`.
    private let slots: DispatchSemaphore
    private let buffers: [UnsafeMutableRawBufferPointer]
    private var next = 0
    /// Touched only on `queue`.
    private var digester = Digester()

    public init(depth: Int = 4, bufferSize: Int = 1 << 20) {
        slots = DispatchSemaphore(value: depth)
        buffers = (0..<depth).map { _ in .allocate(byteCount: bufferSize, alignment: 64) }
    }

    /// Queued blocks hold `self`, so this runs only after the last of them finished
    /// (possibly on the queue itself: it must not wait for the queue).
    deinit {
        for buffer in buffers { buffer.deallocate() }
    }

    public func update(_ bytes: UnsafeRawBufferPointer) {
        var offset = 0
        while offset < bytes.count {
            let index = next
            let count = min(buffers[index].count, bytes.count - offset)
            slots.wait()
            next = (next + 1) % buffers.count
            UnsafeMutableRawBufferPointer(rebasing: buffers[index][0..<count])
                .copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + count)]))
            queue.async {
                self.digester.update(UnsafeRawBufferPointer(rebasing: self.buffers[index][0..<count]))
                self.slots.signal()
            }
            offset += count
        }
    }

    /// Waits for every chunk and returns the digest and the byte count.
    public func finalize() -> (digest: Digest, count: Int64) {
        queue.sync { (digester.finalize(), digester.count) }
    }
}
