import Import

/// One image record in `doctor`'s report: the record, the verdict on the image it points at,
/// and (with `--fix`) what became of it. `--json` prints an array of these; the text output
/// prints a line for each record that is not fully present.
struct DoctorEntry: Encodable {
    var name: String
    /// The target's digest, media type and size: enough to create the record again.
    var target: String
    var mediaType: String
    var size: Int64
    /// The image is fully present: manifest and config stored, every layer unpacked.
    var present: Bool
    /// The image is not fully present: what doctor lists and `--fix` removes.
    var broken: Bool
    /// What is missing (broken), or what the target is when it is no image (neither present
    /// nor broken: not judged, never removed).
    var reason: String?
    var config: String?
    var layers: Int?
    /// `--fix` deleted the record.
    var removed: Bool
    /// `--fix` did not delete a broken record: why (it changed since the check, or was gone).
    var note: String?

    init(_ check: RecordCheck, outcome: RecordRemoval.Outcome? = nil) {
        name = check.name
        target = check.target
        mediaType = check.mediaType
        size = check.size
        present = check.verdict == .present
        broken = check.verdict == .broken
        reason = check.reason
        config = check.config
        layers = check.layers
        removed = outcome == .removed
        remains = broken && outcome != .removed && outcome != .gone
        switch outcome {
        case .gone?: note = "already gone: removed by someone else since the check"
        case .changed(let now)?: note = "changed since the check (now target \(now)): left alone; run doctor again"
        case .removed?, nil: note = nil
        }
    }

    /// A broken record that is still there (without `--fix`, or left by it).
    var remains: Bool

    private enum CodingKeys: String, CodingKey {
        case name, target, mediaType, size, present, broken, reason, config, layers, removed, note
    }

    /// The line for humans, or nil for a present record.
    var line: String? {
        if removed {
            return "removed  \(name)  target=\(target)  mediaType=\(mediaType)  size=\(size): \(reason ?? "")"
        }
        if broken {
            let because = note.map { " (\($0))" } ?? ""
            return "broken   \(name)  target=\(target): \(reason ?? "not fully present")\(because)"
        }
        if !present { return "skipped  \(name)  target=\(target): \(reason ?? "no image") (not checked)" }
        return nil
    }
}
