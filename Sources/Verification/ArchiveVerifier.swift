import Core
import OCI
import Tar

/// Verifies a docker-save or OCI archive in one streaming pass: every blob's digest and size,
/// every layer decompressed and checked against the config's `rootfs.diff_ids`, every layer entry
/// kept inside the layer's root, and the two descriptions of a Docker ≥ 25 archive against each other.
public struct ArchiveVerifier: Sendable {
    public var platform: Platform
    public var limits: InspectionLimits
    /// `.deferred` leaves the layers' decoding to the import, which completes the result with
    /// `verdict(_:layers:)` once it has decoded each layer.
    public var decoding: LayerDecoding

    public init(platform: Platform = .current, limits: InspectionLimits = InspectionLimits(), decoding: LayerDecoding = .inline) {
        self.platform = platform
        self.limits = limits
        self.decoding = decoding
    }

    /// Reads `input` to its end and checks every image in it.
    /// - Parameters:
    ///   - sink: receives a copy of every regular file as it streams past.
    ///   - progress: called with the bytes read so far, after every chunk.
    /// - Throws: `InputError` when reading fails; everything about the archive goes into the result.
    public func verify(
        _ input: InputFile, sink: (any ArchiveFileSink)? = nil, progress: ((Int64) -> Void)? = nil
    ) throws -> VerifiedArchive {
        // Read ahead on a thread of its own: the read pass hashes every byte, and the kernel's
        // copy out of the pipe then overlaps with it (a reload is little else).
        try verify(archive: input.name, sink: sink, progress: progress) { try input.forEachChunk(readAhead: 3, $0) }
    }

    /// Checks an archive held in memory, fed to the scanner in chunks of `chunkSize` bytes, as
    /// `verify(_:)` feeds a file's (tests and the fuzz targets).
    public func verify(bytes: UnsafeRawBufferPointer, archive: String, chunkSize: Int = 1 << 20) throws -> VerifiedArchive {
        let step = max(1, chunkSize)
        return try verify(archive: archive, sink: nil, progress: nil) { (sink: ByteSink) in
            var start = 0
            while start < bytes.count {
                let end = min(bytes.count, start + step)
                try sink(UnsafeRawBufferPointer(rebasing: bytes[start..<end]))
                start = end
            }
        }
    }

    /// The pass itself: `read` hands the whole archive to its sink, chunk by chunk.
    private func verify(
        archive: String, sink: (any ArchiveFileSink)?, progress: ((Int64) -> Void)?, read: (ByteSink) throws -> Void
    ) throws -> VerifiedArchive {
        let scanner = ArchiveScanner(limits: limits, decoding: decoding, sink: sink)
        let parser = TarParser(consumer: scanner)
        do {
            try read { chunk in
                try parser.feed(chunk)
                progress?(parser.offset)
            }
            try parser.finish()
        } catch let error as TarError {
            scanner.noteBytesRead(parser.offset)
            var verified = VerifiedArchive(
                archive: archive, platform: platform, format: nil, images: [], documents: [:],
                contents: scanner.contents, problems: [Self.outerFailure(error, at: parser.offset)])
            verified.unreadable = true
            return verified
        }
        scanner.noteBytesRead(parser.offset)
        return check(scanner.contents, archive: archive)
    }

    /// The repair of a Docker 25.0.0 archive (`import --repair`): when `verified` diagnosed
    /// `docker25-manifest-defect`, the archive checked again as docker save reads it, from
    /// manifest.json alone (index.json and the OCI manifests ignored; every blob is still
    /// checked against its name). Its images are then described by manifest.json (import it
    /// only if it is consistent); nil when there is no such defect.
    public func repairingDocker25Defect(_ verified: VerifiedArchive) -> VerifiedArchive? {
        guard verified.problems.contains(where: { $0.code == "docker25-manifest-defect" }) else { return nil }
        return check(verified.contents, archive: verified.archive, ignoringIndex: true)
    }

    /// The result of a `.deferred` pass completed with what decoding its layers found (by path
    /// in the archive): the same checks `verify` makes, diff_ids, tar structure and entries
    /// included. Candidates still pending stay unchecked.
    public func verdict(_ verified: VerifiedArchive, layers: [String: LayerFacts]) -> VerifiedArchive {
        // An archive that could not be read to its end had none of its images checked.
        if verified.unreadable { return verified }
        var contents = verified.contents
        for (path, facts) in layers where contents.files[path] != nil { contents.files[path]?.layer = facts }
        return check(contents, archive: verified.archive, ignoringIndex: verified.describedByManifestJSON)
    }

    /// Decodes one layer candidate held in a file (the import's spooled copy of the archive's
    /// `path`), as the inline pass would have: its diff_id, tar structure and entries.
    public func inspectLayer(file: String, path: String) throws -> LayerFacts? {
        let inspector = BlobInspector(
            path: path, limits: limits, jsonBudget: JSONBudget(total: limits.maxJSONTotal), decoding: .inline)
        try InputFile(path: file).forEachChunk { inspector.feed($0) }
        return inspector.finish().layer
    }

    /// Checks what a scan found. Separate from reading so tests can feed contents directly.
    func check(_ contents: ArchiveContents, archive: String, ignoringIndex: Bool = false) -> VerifiedArchive {
        var checks = ImageChecks(contents: contents, platform: platform, limits: limits)
        checks.ignoreIndex = ignoringIndex
        let (format, images) = checks.run()
        var verified = VerifiedArchive(
            archive: archive, platform: platform, format: format, images: images, documents: checks.documents,
            contents: contents, problems: checks.problems)
        verified.describedByManifestJSON = ignoringIndex
        return verified
    }

    static func outerFailure(_ error: TarError, at offset: Int64) -> Problem {
        switch error {
        case .truncated(let entry, _, let missing):
            return Problem(
                .error, "archive-truncated",
                "the archive ends after \(offset) bytes, \(missing) bytes short of the end of "
                    + (entry == nil ? "a header" : "this entry") + "; it was cut off while being written or copied",
                path: entry)
        case .badHeader(let at, _) where at == 0:
            return Problem(.error, "archive-not-tar", "the input is not a tar archive (its first block is no tar header)")
        default:
            return Problem(.error, "archive-corrupt", "the archive's tar structure is broken: \(error)")
        }
    }
}
