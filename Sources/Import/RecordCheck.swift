import ContainerdAPI

/// One image record of a namespace as `doctor` judges it (`ImagePresence.checkRecords`): its
/// name and target, and whether the image it points at is fully present for this node (the
/// same check as `status`). A record that is not, such as the one a failed `ctr images import`
/// leaves (layers never unpacked) or one whose manifest or config is gone, is `broken`.
public struct RecordCheck: Sendable, Equatable {
    public enum Verdict: String, Sendable, Equatable {
        /// The image is fully present: manifest and config stored, every layer unpacked.
        case present
        /// The image is not fully present: `reason` says what is missing.
        case broken
        /// The target is no image (an OCI artifact): not judged, never removed.
        case notAnImage
    }

    public var name: String
    /// The target's digest, media type and size: what it takes to create the record again.
    public var target: String
    public var mediaType: String
    public var size: Int64
    public var verdict: Verdict
    /// What is missing (broken), or what the target is (notAnImage); nil when present.
    public var reason: String?
    /// The config digest of this platform's manifest, when it was read.
    public var config: String?
    /// The number of layers, when the config was read.
    public var layers: Int?
    /// When containerd last updated the record (seconds, nanoseconds): `RecordRemoval` removes
    /// it only if it has not changed since.
    let updatedAt: (seconds: Int64, nanos: Int32)

    init(record: Containerd_Services_Images_V1_Image, examination: TargetExamination) {
        name = record.name
        target = record.target.digest
        mediaType = record.target.mediaType
        size = record.target.size
        switch examination.kind {
        case .image: verdict = examination.isPresent ? .present : .broken
        case .notAnImage: verdict = .notAnImage
        }
        reason = examination.reason
        config = examination.config
        layers = examination.layers
        updatedAt = (record.updatedAt.seconds, record.updatedAt.nanos)
    }

    /// Whether `record` is still the one checked: same target, not updated since.
    func isUnchanged(_ record: Containerd_Services_Images_V1_Image) -> Bool {
        record.target.digest == target && record.target.mediaType == mediaType
            && record.updatedAt.seconds == updatedAt.seconds && record.updatedAt.nanos == updatedAt.nanos
    }

    public static func == (lhs: RecordCheck, rhs: RecordCheck) -> Bool {
        lhs.name == rhs.name && lhs.target == rhs.target && lhs.mediaType == rhs.mediaType && lhs.size == rhs.size
            && lhs.verdict == rhs.verdict && lhs.reason == rhs.reason && lhs.config == rhs.config
            && lhs.layers == rhs.layers && lhs.updatedAt == rhs.updatedAt
    }
}
