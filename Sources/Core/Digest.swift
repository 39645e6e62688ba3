import Crypto

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
