import Core
import OCI

extension ImageChecks {
    /// Checks a manifest of an index that is no image (an attestation, an artifact): whatever of
    /// it the archive holds must match its digests and sizes, so the index stays whole; what it
    /// lacks is a note (a pulled image has no attestations locally, so Docker exports none). Its
    /// layers are never decompressed nor compared with a config: they are no filesystem layers.
    mutating func checkAttachment(_ leaf: IndexWalk.Leaf, kind: String, among images: [IndexWalk.Leaf], image: VerifiedImage?)
        -> AttachedManifest
    {
        let subject = IndexEntry.subject(of: leaf.descriptor)
        let subjectPlatform = images.first { $0.descriptor.digest == subject }?.platform?.description
        let what = subjectPlatform.map { "\(kind) of \($0)" } ?? kind
        func absent(_ role: String, _ digest: Digest) -> Problem {
            Problem(
                .note, "attachment-blob-missing",
                "the \(role) blob of the \(what) is not in the archive; it is no part of the image, which is imported without it",
                image: image?.label, digest: digest)
        }
        var complete = checkDescriptorBlob(
            leaf.descriptor, role: "\(kind) manifest", full: false, image: image,
            absentNote: absent("manifest", leaf.descriptor.digest))
        // An attachment may be any document: nothing about it is an error but a blob that does not match its digest.
        if complete, case .kept(let bytes)? = contents.blob(leaf.descriptor.digest)?.json,
            case .manifest(let manifest)? = try? Document(decoding: bytes, declaredMediaType: leaf.descriptor.mediaType)
        {
            documents[leaf.descriptor.digest] = .manifest(manifest)
            for (role, child) in [("config", manifest.config)] + manifest.layers.map({ ("layer", $0) }) {
                let present = checkDescriptorBlob(
                    child, role: "\(kind) \(role)", full: false, image: image, absentNote: absent(role, child.digest))
                complete = complete && present
            }
        }
        return AttachedManifest(
            kind: kind, manifest: leaf.descriptor.digest, subject: subject, subjectPlatform: subjectPlatform,
            complete: complete)
    }
}
