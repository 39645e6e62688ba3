import Core

/// An image name in the normalized form CRI looks images up by
/// (`busybox:1` → `docker.io/library/busybox:1`), following the rules of
/// distribution/reference's `ParseNormalizedNamed` and `TagNameOnly`.
public struct ImageReference: Sendable, Hashable, CustomStringConvertible {
    public var domain: String
    public var path: String
    public var tag: String?
    public var digest: Digest?

    public static let defaultDomain = "docker.io"

    public enum ParseError: Error, CustomStringConvertible, Equatable, Sendable {
        case empty
        case invalid(String, reason: String)

        public var description: String {
            switch self {
            case .empty: return "empty image name"
            case .invalid(let name, let reason): return "invalid image name \"\(name)\": \(reason)"
            }
        }
    }

    /// Parses and normalizes `text`; adds the tag `latest` when there is neither tag nor digest.
    public init(normalizing text: String) throws(ParseError) {
        guard !text.isEmpty else { throw .empty }
        var rest = Substring(text)
        if let at = rest.firstIndex(of: "@") {
            guard let digest = Digest(parsing: String(rest[rest.index(after: at)...])) else {
                throw .invalid(text, reason: "the digest is not sha256:<64 hex>")
            }
            self.digest = digest
            rest = rest[..<at]
        } else {
            digest = nil
        }
        let lastSlash = rest.lastIndex(of: "/")
        let tagStart = rest[(lastSlash.map { rest.index(after: $0) } ?? rest.startIndex)...].firstIndex(of: ":")
        if let colon = tagStart {
            let tag = String(rest[rest.index(after: colon)...])
            guard Self.isValidTag(tag) else { throw .invalid(text, reason: "bad tag \"\(tag)\"") }
            self.tag = tag
            rest = rest[..<colon]
        } else {
            tag = nil
        }
        var name = String(rest)
        if name.utf8.count == 64, Digest(hex: name) != nil {
            throw .invalid(text, reason: "a bare 64-hex name is ambiguous with an image id")
        }
        // A first component with '.' or ':', or "localhost", is a registry domain.
        var domain = Self.defaultDomain
        if let slash = name.firstIndex(of: "/") {
            let first = name[..<slash]
            if first.contains(".") || first.contains(":") || first == "localhost" || first.lowercased() != first {
                domain = String(first)
                name = String(name[name.index(after: slash)...])
            }
        }
        if domain == "index.docker.io" { domain = Self.defaultDomain }
        if domain == Self.defaultDomain && !name.contains("/") { name = "library/" + name }
        guard name.split(separator: "/", omittingEmptySubsequences: false).allSatisfy(Self.isValidComponent) else {
            throw .invalid(text, reason: "path components must be lowercase letters, digits and separators")
        }
        self.domain = domain
        path = name
        if tag == nil && digest == nil { tag = "latest" }
    }

    /// `domain/path[:tag][@digest]`
    public var description: String {
        var text = "\(domain)/\(path)"
        if let tag { text += ":\(tag)" }
        if let digest { text += "@\(digest)" }
        return text
    }

    /// `[\w][\w.-]{0,127}`
    static func isValidTag(_ tag: String) -> Bool {
        guard let first = tag.unicodeScalars.first, tag.utf8.count <= 128 else { return false }
        func word(_ scalar: Unicode.Scalar) -> Bool {
            scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || scalar == "_")
        }
        return word(first) && tag.unicodeScalars.allSatisfy { word($0) || $0 == "." || $0 == "-" }
    }

    /// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`
    static func isValidComponent(_ component: Substring) -> Bool {
        let alphanumeric: (Character) -> Bool = { $0.isASCII && ($0.isLowercase || $0.isNumber) }
        guard let first = component.first, let last = component.last, alphanumeric(first), alphanumeric(last) else {
            return false
        }
        var separator = ""
        for character in component {
            if alphanumeric(character) {
                guard separator.isEmpty || separator == "." || separator == "_" || separator == "__"
                    || separator.allSatisfy({ $0 == "-" })
                else { return false }
                separator = ""
            } else if character == "." || character == "_" || character == "-" {
                separator.append(character)
            } else {
                return false
            }
        }
        return true
    }
}

/// Chain IDs of a layer stack (image-spec `config.md`, "Layer ChainID"):
/// chain(L1) = diff_id(L1); chain(Ln) = sha256("<chain(Ln-1)> <diff_id(Ln)>").
public func chainIDs(_ diffIDs: [Digest]) -> [Digest] {
    var chains: [Digest] = []
    for diffID in diffIDs {
        if let parent = chains.last {
            chains.append(Digest.of(Array("\(parent) \(diffID)".utf8)))
        } else {
            chains.append(diffID)
        }
    }
    return chains
}
