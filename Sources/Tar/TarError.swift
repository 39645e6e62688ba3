/// Why a tar stream could not be read. Offsets count bytes from the start of the stream.
public enum TarError: Error, CustomStringConvertible, Sendable, Equatable {
    /// A header block whose checksum or numeric fields do not parse.
    case badHeader(offset: Int64, reason: String)
    /// The stream ended inside an entry (or its headers).
    case truncated(entry: String?, offset: Int64, missingBytes: Int64)
    /// A GNU long name or PAX header larger than the parser accepts.
    case metadataTooLarge(kind: String, size: Int64, limit: Int)
    /// A PAX record that does not follow `"%d %s=%s\n"`.
    case malformedPAX(offset: Int64, reason: String)

    public var description: String {
        switch self {
        case .badHeader(let offset, let reason):
            return "invalid tar header at offset \(offset): \(reason)"
        case .truncated(let entry, let offset, let missing):
            let what = entry.map { "inside entry \"\($0)\"" } ?? "inside a header"
            return "tar stream is truncated \(what): it ends at offset \(offset), \(missing) bytes short"
        case .metadataTooLarge(let kind, let size, let limit):
            return "\(kind) of \(size) bytes exceeds the limit of \(limit) bytes"
        case .malformedPAX(let offset, let reason):
            return "malformed PAX header at offset \(offset): \(reason)"
        }
    }
}
