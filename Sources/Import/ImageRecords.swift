import ContainerdAPI
import Core
import GRPCCore
import OCI
import Verification

/// The image records, written last and all or none: each name is created or updated to point
/// at its image's target; if any write fails, every record already written is restored (or
/// deleted when it did not exist before).
@available(macOS 15.0, *)
struct ImageRecords: Sendable {
    let session: ImportSession

    /// Names as CRI looks them up: io.containerd.image.name, a full ref.name or RepoTags,
    /// normalized (a bare tag is no name); with `digestNames` (ctr's --digests), or when the
    /// image has no name, `import-<date>@<target digest>` too.
    static func names(for image: VerifiedImage, target: Digest, digestNames: Bool, date: String) -> [String] {
        var names: [String] = []
        for name in image.names where name.contains("/") || name.contains(":") {
            if let normalized = try? ImageReference(normalizing: name).description, !names.contains(normalized) {
                names.append(normalized)
            }
        }
        if digestNames || names.isEmpty { names.append("import-\(date)@\(target)") }
        return names
    }

    /// Creates or updates every record; on any failure restores what was there.
    func write(_ images: [ImportedImage]) async throws {
        var undo: [(name: String, previous: Containerd_Services_Images_V1_Image?)] = []
        do {
            for image in images {
                let target = Containerd_Types_Descriptor.with {
                    $0.mediaType = image.target.mediaType ?? MediaType.ociManifest
                    $0.digest = image.target.digest.description
                    $0.size = image.target.size
                }
                for name in image.names {
                    var previous = try await existing(name)
                    let record = Containerd_Services_Images_V1_Image.with {
                        $0.name = name
                        $0.target = target
                    }
                    if previous == nil {
                        do {
                            _ = try await session.containerd.images.create(.with { $0.image = record }, metadata: session.plain)
                            undo.append((name, nil))
                            continue
                        } catch let error as RPCError where error.code == .alreadyExists {
                            // Created by another import meanwhile: update it like any existing record.
                            previous = try await existing(name)
                        }
                    }
                    try await update(record)
                    undo.append((name, previous))
                }
            }
        } catch {
            for (name, previous) in undo.reversed() {
                if let previous {
                    try? await update(previous)
                } else {
                    _ = try? await session.containerd.images.delete(.with { $0.name = name }, metadata: session.plain)
                }
            }
            throw error
        }
    }

    private func update(_ record: Containerd_Services_Images_V1_Image) async throws {
        _ = try await session.containerd.images.update(
            .with {
                $0.image = record
                $0.updateMask = .with { $0.paths = ["target"] }
            }, metadata: session.plain)
    }

    private func existing(_ name: String) async throws -> Containerd_Services_Images_V1_Image? {
        do {
            return try await session.containerd.images.get(.with { $0.name = name }, metadata: session.plain).image
        } catch let error as RPCError where error.code == .notFound {
            return nil
        }
    }
}
