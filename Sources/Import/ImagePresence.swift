import ContainerdAPI
import Core
import GRPCCore
import OCI

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Whether an image is fully present in a node's containerd, as kubelet needs it: a record,
/// its target and config in the content store, and every layer unpacked (a committed snapshot
/// for each chain ID of this platform). A record whose layers are not unpacked, as `ctr`
/// leaves after a failed unpack, is not present.
public struct PresenceReport: Sendable, Codable {
    /// What was asked: a name or a `sha256:` digest.
    public var query: String
    public var present: Bool
    /// The image record found for the query.
    public var record: String?
    public var target: String?
    public var config: String?
    public var layers: Int?
    /// What is missing, when not present.
    public var missing: String?
}

@available(macOS 15.0, *)
public struct ImagePresence: Sendable {
    public var namespace: String
    public var snapshotter: String
    public var platform: Platform

    public init(namespace: String, snapshotter: String, platform: Platform) {
        self.namespace = namespace
        self.snapshotter = snapshotter
        self.platform = platform
    }

    /// Checks each query: an image name (normalized as CRI does: `busybox` →
    /// `docker.io/library/busybox:latest`) or a `sha256:` digest of an image's config (its
    /// image ID) or of a record's target.
    public func check(_ queries: [String], containerd: ContainerdConnection) async throws -> [PresenceReport] {
        var records: [Containerd_Services_Images_V1_Image]?
        var reports: [PresenceReport] = []
        for query in queries {
            var report = PresenceReport(query: query, present: false)
            if let digest = Digest(parsing: query) {
                if records == nil {
                    records = try await containerd.images.list(.init(), metadata: containerd.metadata()).images
                }
                report = try await bestRecord(for: digest, among: records ?? [], query: query, containerd: containerd)
            } else {
                guard let name = try? ImageReference(normalizing: query).description else {
                    report.missing = "\"\(query)\" is not an image name or a sha256: digest"
                    reports.append(report)
                    continue
                }
                do {
                    let record = try await containerd.images.get(.with { $0.name = name }, metadata: containerd.metadata()).image
                    report = try await inspect(record, query: query, containerd: containerd)
                } catch let error as RPCError where error.code == .notFound {
                    report.missing = "no image record \(name)"
                }
            }
            reports.append(report)
        }
        return reports
    }

    /// The record whose target or config is `digest`: a present one if any.
    private func bestRecord(
        for digest: Digest, among records: [Containerd_Services_Images_V1_Image], query: String,
        containerd: ContainerdConnection
    ) async throws -> PresenceReport {
        var fallback: PresenceReport?
        for record in records {
            let report = try await inspect(record, query: query, containerd: containerd)
            let matches = record.target.digest == digest.description || report.config == digest.description
            guard matches else { continue }
            if report.present { return report }
            fallback = fallback ?? report
        }
        return fallback ?? PresenceReport(query: query, present: false, missing: "no image record has target or config \(digest)")
    }

    /// A record's presence report for `query`: what `examine` finds for its target.
    private func inspect(_ record: Containerd_Services_Images_V1_Image, query: String, containerd: ContainerdConnection)
        async throws -> PresenceReport
    {
        let found = try await examine(record.target, containerd: containerd)
        var report = PresenceReport(
            query: query, present: found.isPresent, record: record.name, target: record.target.digest,
            config: found.config, layers: found.layers)
        if let reason = found.reason { report.missing = "\(record.name): \(reason)" }
        return report
    }

    /// Every image record of the namespace (containerd's Images.List), each checked as `check`
    /// checks a name, sorted by name: what `doctor` lists. Records that share a target are
    /// examined once.
    public func checkRecords(containerd: ContainerdConnection) async throws -> [RecordCheck] {
        let records = try await containerd.images.list(.init(), metadata: containerd.metadata()).images
        var examined: [String: TargetExamination] = [:]
        var checks: [RecordCheck] = []
        for record in records.sorted(by: { $0.name < $1.name }) {
            let key = "\(record.target.digest) \(record.target.mediaType)"
            let found: TargetExamination
            if let known = examined[key] {
                found = known
            } else {
                found = try await examine(record.target, containerd: containerd)
                examined[key] = found
            }
            checks.append(RecordCheck(record: record, examination: found))
        }
        return checks
    }

    /// Walks a record's target (→ this platform's manifest) → config → committed snapshots.
    func examine(_ target: Containerd_Types_Descriptor, containerd: ContainerdConnection) async throws
        -> TargetExamination
    {
        guard let root = Digest(parsing: target.digest) else {
            return .missing("its target \(target.digest) is no sha256 digest")
        }
        // The manifest this node's platform uses, found as verify and import find it.
        var walk = IndexWalk(
            root: Descriptor(mediaType: target.mediaType.isEmpty ? nil : target.mediaType, digest: root, size: target.size))
        do {
            while let next = try walk.next() {
                guard let bytes = try await read(next.digest.description, containerd: containerd) else {
                    return .missing("\(next.digest) is not in the content store")
                }
                do {
                    try walk.provide(try Document(decoding: bytes, declaredMediaType: next.mediaType))
                } catch let error as IndexWalk.Failure {
                    throw error
                } catch {
                    return .missing("\(next.digest) is neither an index nor a manifest")
                }
            }
        } catch let failure as IndexWalk.Failure {
            if case .notAnImage = failure { return .notAnImage("\(failure)") }
            return .missing("\(failure)")
        }
        guard let chosen = IndexEntry.choose(walk.leaves, for: platform, descriptor: \.descriptor, platformOf: \.platform)
        else {
            if !walk.leaves.isEmpty, walk.leaves.allSatisfy({ IndexEntry.attachmentKind($0.descriptor) != nil }) {
                return .notAnImage("its index lists attachments only (\(walk.leaves.count)), no image")
            }
            return .missing("its index has no manifest for \(platform)")
        }
        guard let bytes = try await read(chosen.descriptor.digest.description, containerd: containerd) else {
            return .missing("\(chosen.descriptor.digest) is not in the content store")
        }
        guard case .manifest(let manifest)? = try? Document(decoding: bytes, declaredMediaType: chosen.descriptor.mediaType)
        else {
            return .missing("\(chosen.descriptor.digest) is not a manifest")
        }
        if let kind = IndexEntry.attachmentKind(of: manifest), !walk.rootIsIndex {
            return .notAnImage("it points at an \(kind), which is no image")
        }
        var found = TargetExamination.missing("", config: manifest.config.digest.description)
        guard let configBytes = try await read(manifest.config.digest.description, containerd: containerd),
            let config = try? JSONDecoder().decode(ImageConfig.self, from: Data(configBytes))
        else {
            found.reason = "its config \(manifest.config.digest) is not in the content store"
            return found
        }
        let chains = chainIDs(config.rootfs.diffIDs)
        found.layers = chains.count
        for (position, chain) in chains.enumerated() {
            guard try await isCommitted(chain, containerd: containerd) else {
                found.reason =
                    "layer \(position + 1) of \(chains.count) is not unpacked (no committed \(snapshotter) snapshot \(chain))"
                // The blob it would be unpacked from; an unpacked layer needs none (kind's
                // discard_unpacked_layers lets GC take the blobs of what CRI pulled).
                if manifest.layers.count == chains.count, position < manifest.layers.count,
                    try await !isStored(manifest.layers[position].digest.description, containerd: containerd)
                {
                    found.reason! += ", and its blob \(manifest.layers[position].digest) is not in the content store"
                }
                return found
            }
        }
        found.reason = nil
        return found
    }

    /// A blob's bytes (documents only: at most 4 MiB), or nil when it is not stored.
    private func read(_ digest: String, containerd: ContainerdConnection) async throws -> [UInt8]? {
        do {
            let info = try await containerd.content.info(.with { $0.digest = digest }, metadata: containerd.metadata()).info
            guard info.size <= 4 << 20 else { return nil }
            return try await containerd.content.read(
                request: ClientRequest(message: .with { $0.digest = digest }, metadata: containerd.metadata())
            ) { response in
                var bytes: [UInt8] = []
                for try await message in response.messages { bytes += message.data }
                return bytes
            }
        } catch let error as RPCError where error.code == .notFound {
            return nil
        }
    }

    /// Whether a blob is in the content store (any size).
    private func isStored(_ digest: String, containerd: ContainerdConnection) async throws -> Bool {
        do {
            _ = try await containerd.content.info(.with { $0.digest = digest }, metadata: containerd.metadata())
            return true
        } catch let error as RPCError where error.code == .notFound {
            return false
        }
    }

    private func isCommitted(_ chain: Digest, containerd: ContainerdConnection) async throws -> Bool {
        do {
            let info = try await containerd.snapshots.stat(
                .with {
                    $0.snapshotter = snapshotter
                    $0.key = chain.description
                }, metadata: containerd.metadata()
            ).info
            return info.kind == .committed
        } catch let error as RPCError where error.code == .notFound {
            return false
        }
    }
}
