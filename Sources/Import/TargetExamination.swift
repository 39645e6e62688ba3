/// What `ImagePresence` finds when it walks an image record's target: whether this platform's
/// image is fully present (manifest and config stored, every layer unpacked), else why not; or
/// that the target is no image at all (an artifact), which is not judged.
struct TargetExamination: Sendable, Equatable {
    enum Kind: Sendable, Equatable {
        /// An image: present when `reason` is nil.
        case image
        /// The target is no image (an OCI artifact, attachments only): `reason` says what it is.
        case notAnImage
    }

    var kind: Kind
    /// What is missing (an image), or what the target is (not an image); nil when present.
    var reason: String?
    /// The config digest of this platform's manifest, once the manifest was read.
    var config: String?
    /// The number of layers (chain IDs), once the config was read.
    var layers: Int?

    var isPresent: Bool { kind == .image && reason == nil }

    /// An image that is not fully present.
    static func missing(_ reason: String, config: String? = nil) -> TargetExamination {
        TargetExamination(kind: .image, reason: reason, config: config)
    }

    /// A target that is no image.
    static func notAnImage(_ what: String) -> TargetExamination {
        TargetExamination(kind: .notAnImage, reason: what)
    }
}
