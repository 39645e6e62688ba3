import ContainerdAPI
import GRPCCore

/// Removes image records that `doctor` found broken, and nothing else: each record is deleted
/// by name (containerd's Images.Delete) only while it is still the record that was checked
/// (same target, not updated since), so an import that rewrote it in between keeps its work.
/// No blob and no snapshot is deleted here: once no record points at them, containerd's GC
/// collects what nothing else references.
@available(macOS 15.0, *)
public struct RecordRemoval: Sendable {
    public enum Outcome: Sendable, Equatable {
        /// The record was deleted.
        case removed
        /// The record was already gone (someone else removed it).
        case gone
        /// The record changed since the check (now pointing at `target`): left alone.
        case changed(target: String)
    }

    public init() {}

    /// Deletes `check`'s record if it is still the one checked. Throws containerd's errors.
    public func remove(_ check: RecordCheck, containerd: ContainerdConnection) async throws -> Outcome {
        let record: Containerd_Services_Images_V1_Image
        do {
            record = try await containerd.images.get(.with { $0.name = check.name }, metadata: containerd.metadata()).image
        } catch let error as RPCError where error.code == .notFound {
            return .gone
        }
        guard check.isUnchanged(record) else { return .changed(target: record.target.digest) }
        do {
            _ = try await containerd.images.delete(.with { $0.name = check.name }, metadata: containerd.metadata())
        } catch let error as RPCError where error.code == .notFound {
            return .gone
        }
        return .removed
    }
}
