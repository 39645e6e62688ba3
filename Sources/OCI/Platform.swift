/// Mirrors image-spec `image-index.md` "platform". Written `os/arch[/variant]`.
public struct Platform: Codable, Sendable, Hashable, CustomStringConvertible {
    public var os: String
    public var architecture: String
    public var variant: String?

    enum CodingKeys: String, CodingKey {
        case os
        case architecture
        case variant
    }

    public init(os: String, architecture: String, variant: String? = nil) {
        self.os = os
        self.architecture = architecture
        self.variant = variant?.isEmpty == true ? nil : variant
    }

    /// Parses `os/arch[/variant]`.
    public init?(parsing text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard (2...3).contains(parts.count), !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
        self.init(os: parts[0], architecture: parts[1], variant: parts.count == 3 ? parts[2] : nil)
    }

    public var description: String {
        [os, architecture, variant].compactMap { $0 }.joined(separator: "/")
    }

    /// The platform of the running machine, in OCI's (GOARCH) spelling.
    public static var current: Platform {
        #if arch(x86_64)
        return Platform(os: "linux", architecture: "amd64")
        #elseif arch(arm64)
        return Platform(os: "linux", architecture: "arm64", variant: "v8")
        #elseif arch(arm)
        return Platform(os: "linux", architecture: "arm", variant: "v7")
        #elseif arch(s390x)
        return Platform(os: "linux", architecture: "s390x")
        #elseif arch(powerpc64le)
        return Platform(os: "linux", architecture: "ppc64le")
        #else
        return Platform(os: "linux", architecture: "unknown")
        #endif
    }

    /// Whether an image for `other` runs here, as containerd's default matcher decides for
    /// one platform: same os and architecture; a variant only has to agree when both name one,
    /// and arm64's variant defaults to v8.
    public func matches(_ other: Platform) -> Bool {
        guard os == other.os, architecture == other.architecture else { return false }
        func normalized(_ variant: String?) -> String? {
            architecture == "arm64" && variant == nil ? "v8" : variant
        }
        guard let mine = normalized(variant), let theirs = normalized(other.variant) else { return true }
        return mine == theirs
    }
}
