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

    /// Walks record → target (→ this platform's manifest) → config → committed snapshots.
    private func inspect(_ record: Containerd_Services_Images_V1_Image, query: String, containerd: ContainerdConnection)
        async throws -> PresenceReport
    {
        var report = PresenceReport(query: query, present: false, record: record.name, target: record.target.digest)
        guard let root = Digest(parsing: record.target.digest) else {
            report.missing = "\(record.name): its target \(record.target.digest) is no sha256 digest"
            return report
        }
        // The manifest this node's platform uses, found as verify and import find it.
        var walk = IndexWalk(
            root: Descriptor(
                mediaType: record.target.mediaType.isEmpty ? nil : record.target.mediaType, digest: root,
                size: record.target.size))
        do {
            while let next = try walk.next() {
                guard let bytes = try await read(next.digest.description, containerd: containerd) else {
                    report.missing = "\(record.name): \(next.digest) is not in the content store"
                    return report
                }
                do {
                    try walk.provide(try Document(decoding: bytes, declaredMediaType: next.mediaType))
                } catch let error as IndexWalk.Failure {
                    throw error
                } catch {
                    report.missing = "\(record.name): \(next.digest) is neither an index nor a manifest"
                    return report
                }
            }
        } catch let failure as IndexWalk.Failure {
            report.missing = "\(record.name): \(failure)"
            return report
        }
        guard let chosen = IndexEntry.choose(walk.leaves, for: platform, descriptor: \.descriptor, platformOf: \.platform)
        else {
            report.missing = "\(record.name): its index has no manifest for \(platform)"
            return report
        }
        guard let bytes = try await read(chosen.descriptor.digest.description, containerd: containerd) else {
            report.missing = "\(record.name): \(chosen.descriptor.digest) is not in the content store"
            return report
        }
        guard case .manifest(let manifest)? = try? Document(decoding: bytes, declaredMediaType: chosen.descriptor.mediaType)
        else {
            report.missing = "\(record.name): \(chosen.descriptor.digest) is not a manifest"
            return report
        }
        report.config = manifest.config.digest.description
        guard let configBytes = try await read(manifest.config.digest.description, containerd: containerd),
            let config = try? JSONDecoder().decode(ImageConfig.self, from: Data(configBytes))
        else {
            report.missing = "\(record.name): its config \(manifest.config.digest) is not in the content store"
            return report
        }
        let chains = chainIDs(config.rootfs.diffIDs)
        report.layers = chains.count
        for (position, chain) in chains.enumerated() {
            guard try await isCommitted(chain, containerd: containerd) else {
                report.missing =
                    "\(record.name): layer \(position + 1) of \(chains.count) is not unpacked (no committed \(snapshotter) snapshot \(chain))"
                return report
            }
        }
        report.present = true
        return report
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
