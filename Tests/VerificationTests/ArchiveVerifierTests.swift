import Core
import Foundation
import OCI
import Testing
import TestSupport

@testable import Verification

/// Verifies a generated fixture for linux/amd64.
func verifyFixture(_ name: String, platform: Platform = Platform(os: "linux", architecture: "amd64")) throws
    -> VerificationReport
{
    let input = try InputFile(path: try Fixtures.path(name))
    return try ArchiveVerifier(platform: platform).verify(input).report
}

func errors(_ report: VerificationReport) -> [Problem] { report.problems.filter { $0.severity == .error } }

/// Facts the fixture generator wrote next to the hand-made archives.
struct Expectations {
    let table: [String: [String: Any]]

    init() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: try Fixtures.path("handmade/expectations.json")))
        table = try JSONSerialization.jsonObject(with: data) as? [String: [String: Any]] ?? [:]
    }

    func digest(_ fixture: String, _ key: String) -> Digest? {
        (table[fixture]?[key] as? String).flatMap(Digest.init(parsing:))
    }
}

@Suite struct ArchiveFormatTests {
    /// Every format a real producer or Docker writes verifies clean, names and all.
    @Test(arguments: [
        ("real/docker-archive.tar", "docker-save", ["docker.io/kni/sample:v1"]),
        ("real/oci-gzip.tar", "oci", ["kni/sample:gzip"]),
        ("real/oci-zstd.tar", "oci", ["kni/sample:zstd"]),
        ("real/oci-uncompressed.tar", "oci", ["kni/sample:uncompressed"]),
        ("handmade/docker-legacy.tar", "docker-save", ["kni/docker-legacy:v1"]),
        ("handmade/docker-legacy-symlinked.tar", "docker-save", ["kni/docker-legacy-symlinked:v1"]),
        ("handmade/docker25-good.tar", "oci+docker-save", ["docker.io/kni/docker25-good:v1", "v1"]),
        ("handmade/oci-gzip.tar", "oci", ["kni/oci-gzip:v1"]),
        ("handmade/oci-zstd.tar", "oci", ["kni/oci-zstd:v1"]),
        ("handmade/oci-mixed.tar", "oci", ["kni/oci-mixed:v1"]),
        ("handmade/oci-nested-index.tar", "oci", ["kni/oci-nested-index:v1"]),
        ("handmade/gnu-longnames.tar", "oci", ["kni/gnu-longnames:v1"]),
        ("handmade/pax-headers.tar", "oci", ["kni/pax-headers:v1"]),
        ("handmade/pax-outer.tar", "oci", ["kni/pax-outer:v1"]),
        ("handmade/layer-sparse.tar", "oci", ["kni/layer-sparse:v1"]),
        ("handmade/absolute-path.tar", "oci", ["kni/absolute-path:v1"]),
    ])
    func soundArchivesVerify(fixture: String, format: String, names: [String]) throws {
        let report = try verifyFixture(fixture)
        #expect(errors(report).isEmpty, "\(fixture): \(errors(report))")
        #expect(report.format == format)
        #expect(report.images.count == 1)
        let image = try #require(report.images.first)
        #expect(image.names == names)
        #expect(image.platform == "linux/amd64")
        #expect(image.consistent)
        #expect(!image.layers.isEmpty)
        #expect(image.layers.allSatisfy { $0.diffID != nil })
    }

    @Test func compressionIsDetectedPerLayer() throws {
        let report = try verifyFixture("handmade/oci-mixed.tar")
        #expect(report.images.first?.layers.map(\.compression) == ["gzip", "zstd", "none"])
        let zstd = try verifyFixture("real/oci-zstd.tar")
        #expect(zstd.images.first?.layers.allSatisfy { $0.compression == "zstd" } == true)
    }

    /// The same image in every format has the same config and diff_ids.
    @Test func everyFormatOfTheSampleImageAgrees() throws {
        let reports = try ["real/docker-archive.tar", "real/oci-gzip.tar", "real/oci-zstd.tar", "real/oci-uncompressed.tar"]
            .map { try verifyFixture($0) }
        let configs = Set(reports.compactMap { $0.images.first?.config })
        #expect(configs.count == 1)
        let diffIDs = Set(reports.map { report in report.images.first?.layers.compactMap { $0.diffID } ?? [] })
        #expect(diffIDs.count == 1)
    }

    @Test func twoImagesInOneArchiveAreBothChecked() throws {
        let report = try verifyFixture("handmade/docker-legacy-two-images.tar")
        #expect(errors(report).isEmpty)
        #expect(report.images.map(\.names) == [["kni/docker-legacy-two-images:v1"], ["kni/docker-legacy-two-images:v2"]])
        let tagged = try verifyFixture("real/docker-archive-two-images.tar")
        #expect(tagged.images.first?.names.count == 2)
    }

    @Test func multiPlatformIndexChecksTheChosenPlatformAndNotesMissingOthers() throws {
        let expectations = try Expectations()
        let report = try verifyFixture("handmade/oci-multiplatform.tar")
        #expect(errors(report).isEmpty)
        let image = try #require(report.images.first)
        #expect(image.target == expectations.digest("oci-multiplatform.tar", "index"))
        #expect(image.platform == "linux/amd64")
        #expect(image.otherPlatforms.map(\.platform) == ["linux/arm64/v8"])
        #expect(image.otherPlatforms.first?.complete == false)
        #expect(report.problems.contains { $0.code == "platform-blob-missing" && $0.severity == .note })
    }

    @Test func anotherPlatformCanBeRequested() throws {
        let arm = try verifyFixture("handmade/oci-multiplatform.tar", platform: Platform(os: "linux", architecture: "arm64"))
        #expect(errors(arm).map(\.code).contains("blob-missing"))
        let riscv = try verifyFixture(
            "handmade/oci-multiplatform.tar", platform: Platform(os: "linux", architecture: "riscv64"))
        #expect(errors(riscv).map(\.code) == ["platform-not-found"])
    }

    @Test func missingBlobOfTheChosenPlatformIsAnError() throws {
        let expectations = try Expectations()
        let report = try verifyFixture("handmade/oci-multiplatform-missing-amd64.tar")
        let problem = try #require(errors(report).first)
        #expect(errors(report).count == 1)
        #expect(problem.code == "blob-missing")
        #expect(problem.layer == 1)
        #expect(problem.digest == expectations.digest("oci-multiplatform-missing-amd64.tar", "digest"))
    }
}

@Suite struct BrokenArchiveTests {
    /// Each broken class gives one precise error: its code, the layer, and the image's name.
    @Test(arguments: [
        ("wrong-diffid.tar", "diff-id-mismatch", 1, "kni/wrong-diffid:v1"),
        ("corrupted-blob.tar", "blob-digest-mismatch", 1, "kni/corrupted-blob:v1"),
        ("missing-blob.tar", "blob-missing", 1, "kni/missing-blob:v1"),
        ("size-mismatch.tar", "blob-size-mismatch", 1, "kni/size-mismatch:v1"),
        ("mediatype-mismatch.tar", "layer-media-type-mismatch", 1, "kni/mediatype-mismatch:v1"),
        ("corrupt-gzip.tar", "layer-unreadable", 1, "kni/corrupt-gzip:v1"),
        ("traversal.tar", "layer-path-escape", 3, "kni/traversal:v1"),
        ("traversal-midpath.tar", "layer-path-escape", 3, "kni/traversal-midpath:v1"),
        ("hardlink-escape.tar", "layer-hardlink-escape", 3, "kni/hardlink-escape:v1"),
        ("two-images-one-bad.tar", "diff-id-mismatch", 1, "kni/two-images-one-bad:v2"),
    ] as [(String, String, Int, String)])
    func brokenLayerIsNamed(fixture: String, code: String, layer: Int, image: String) throws {
        let report = try verifyFixture("handmade/" + fixture)
        let problems = errors(report)
        #expect(problems.count == 1, "\(problems)")
        let problem = try #require(problems.first)
        #expect(problem.code == code)
        #expect(problem.layer == layer)
        #expect(problem.image == image)
        #expect(problem.digest != nil)
        #expect(!report.consistent)
        #expect(report.images.first { $0.names.first == image }?.consistent == false)
    }

    @Test func diffIDMismatchSaysWhatWasExpectedAndFound() throws {
        let expectations = try Expectations()
        let problem = try #require(errors(try verifyFixture("handmade/wrong-diffid.tar")).first)
        #expect(problem.expected == expectations.digest("wrong-diffid.tar", "config_diff_id")?.description)
        #expect(problem.found == expectations.digest("wrong-diffid.tar", "actual_diff_id")?.description)
        #expect(problem.description.contains("layer 2 of 3"))
    }

    @Test func hostileEntriesAreNamedByTheirPath() throws {
        #expect(errors(try verifyFixture("handmade/traversal.tar")).first?.path == "../../etc/evil")
        #expect(errors(try verifyFixture("handmade/traversal-midpath.tar")).first?.path == "a/../../evil")
        let hardlink = try #require(errors(try verifyFixture("handmade/hardlink-escape.tar")).first)
        #expect(hardlink.path == "data/escape")
        #expect(hardlink.message.contains("../../etc/shadow"))
    }

    @Test func layerCountMismatchIsReported() throws {
        let problems = errors(try verifyFixture("handmade/count-mismatch.tar"))
        #expect(problems.map(\.code) == ["layer-count-mismatch"])
        #expect(problems.first?.expected == "3 layers")
        #expect(problems.first?.found == "2 layers")
    }

    @Test func reorderedLayersAreRecognizedAsReordered() throws {
        let codes = errors(try verifyFixture("handmade/reordered.tar")).map(\.code)
        #expect(codes == ["diff-id-mismatch", "diff-id-mismatch", "layer-order-mismatch"])
    }

    @Test func docker25DefectIsDiagnosedWithItsCause() throws {
        for fixture in ["docker25-defect-order.tar", "docker25-defect-count.tar"] {
            let report = try verifyFixture("handmade/" + fixture)
            let diagnosis = try #require(errors(report).first { $0.code == "docker25-manifest-defect" }, "\(fixture)")
            #expect(diagnosis.message.contains("Docker 25.0.0"))
            #expect(diagnosis.message.contains("manifest.json lists the"))
            #expect(diagnosis.message.contains("moby#47150"))
            let expectations = try Expectations()
            #expect(diagnosis.message.contains(expectations.digest(fixture, "oci_manifest")?.description ?? "?"))
        }
        let count = errors(try verifyFixture("handmade/docker25-defect-count.tar")).map(\.code)
        #expect(count == ["layer-count-mismatch", "docker25-manifest-defect"])
    }

    @Test func archiveLevelFailures() throws {
        #expect(errors(try verifyFixture("handmade/not-a-tar.tar")).map(\.code) == ["archive-not-tar"])
        #expect(errors(try verifyFixture("handmade/empty.tar")).map(\.code) == ["archive-no-images"])
        #expect(errors(try verifyFixture("handmade/no-index.tar")).map(\.code) == ["archive-no-images"])
        let truncated = try #require(errors(try verifyFixture("handmade/truncated.tar")).first)
        #expect(truncated.code == "archive-truncated")
        let expectations = try Expectations()
        #expect(truncated.path == "blobs/sha256/" + (expectations.digest("truncated.tar", "digest")?.hex ?? "?"))
    }

    @Test func malformedAndOversizedJSONAreRefused() throws {
        let malformed = try #require(errors(try verifyFixture("handmade/malformed-json.tar")).first)
        #expect(malformed.code == "json-malformed")
        #expect(malformed.message.contains("config"))
        let oversized = try #require(errors(try verifyFixture("handmade/oversized-json.tar")).first)
        #expect(oversized.code == "json-too-large")
        #expect(oversized.path == "manifest.json")
    }
}

/// Docker 29's `docker save` (containerd image store): an image index with every platform of the
/// image, only the local one present, and BuildKit attestation manifests for a local build.
@Suite struct Docker29ArchiveTests {
    @Test(arguments: ["docker29-buildx-load.tar", "docker29-pulled.tar"])
    func theLocalPlatformIsCheckedAndTheRestNoted(fixture: String) throws {
        let expectations = try Expectations()
        let report = try verifyFixture("handmade/" + fixture)
        #expect(errors(report).isEmpty, "\(errors(report))")
        #expect(report.format == "oci+docker-save")
        let image = try #require(report.images.first)
        #expect(report.images.count == 1)
        #expect(image.names == ["docker.io/kni/\(fixture.dropLast(4)):v1", "v1"])
        // The record's target, and the ID `docker image inspect` reports on the containerd store.
        #expect(image.target == expectations.digest(fixture, "index"))
        #expect(image.platform == "linux/amd64")
        #expect(image.layers.count == 3)
        #expect(image.otherPlatforms.map(\.platform) == ["linux/arm64/v8", "linux/arm/v7"])
        #expect(image.otherPlatforms.allSatisfy { !$0.complete })
        // Not a layer of any image, so no media-type or tar complaint about in-toto statements.
        #expect(!report.problems.contains { $0.code == "unsupported-media-type" || $0.code == "layer-not-tar" })
    }

    @Test func attestationsAreKeptApartFromTheImage() throws {
        let expectations = try Expectations()
        let report = try verifyFixture("handmade/docker29-buildx-load.tar")
        let image = try #require(report.images.first)
        let attestations = try #require(expectations.table["docker29-buildx-load.tar"]?["attestations"] as? [String: String])
        #expect(image.attachments.count == 3)
        #expect(image.attachments.allSatisfy { $0.kind == "attestation-manifest" })
        let byPlatform = Dictionary(uniqueKeysWithValues: image.attachments.map { ($0.subjectPlatform ?? "?", $0) })
        #expect(byPlatform["linux/amd64"]?.complete == true)
        #expect(byPlatform["linux/amd64"]?.manifest.description == attestations["linux/amd64"])
        #expect(byPlatform["linux/arm64/v8"]?.complete == false)
        #expect(byPlatform["linux/arm/v7"]?.complete == false)
        let verified = try ArchiveVerifier(platform: Platform(os: "linux", architecture: "amd64"))
            .verify(InputFile(path: try Fixtures.path("handmade/docker29-buildx-load.tar")))
        #expect(verified.images.first?.absentParts == [
            "linux/arm64/v8", "linux/arm/v7", "attestation-manifest of linux/arm64/v8", "attestation-manifest of linux/arm/v7",
        ])
        let notes = report.problems.filter { $0.code == "attachment-blob-missing" }
        #expect(notes.count == 2 && notes.allSatisfy { $0.severity == .note })
        // A pulled image has no attestations at all.
        let pulled = try verifyFixture("handmade/docker29-pulled.tar")
        #expect(pulled.images.first?.attachments.isEmpty == true)
    }

    /// An attestation is stored with the index, so its bytes must match their digest too.
    @Test func aCorruptAttestationIsRefused() throws {
        let report = try verifyFixture("handmade/docker29-attestation-corrupt.tar")
        let codes = Set(errors(report).map(\.code))
        #expect(codes == ["blob-digest-mismatch"])
        #expect(errors(report).contains { $0.message.contains("attestation-manifest layer blob") && $0.image == "docker.io/kni/docker29-attestation-corrupt:v1" })
    }

    /// Other platforms can be asked for; an absent one is an error that names it.
    @Test func anAbsentPlatformCannotBeChecked() throws {
        let arm = try verifyFixture("handmade/docker29-pulled.tar", platform: Platform(os: "linux", architecture: "arm64"))
        #expect(errors(arm).map(\.code) == ["blob-missing"])
        #expect(errors(arm).first?.platform == "linux/arm64/v8")
    }
}

/// `verify(bytes:)`, the fuzz targets' way in: the same pass as over a file, whatever the chunks.
@Suite struct InMemoryVerificationTests {
    @Test(arguments: [
        "handmade/oci-zstd.tar", "handmade/docker25-defect-order.tar", "handmade/truncated.tar",
        "handmade/not-a-tar.tar", "handmade/traversal.tar",
    ])
    func bytesVerifyAsTheFileDoes(fixture: String) throws {
        let platform = Platform(os: "linux", architecture: "amd64")
        let fromFile = try verifyFixture(fixture, platform: platform)
        let bytes = try readBytes(try Fixtures.path(fixture))
        for chunkSize in [1 << 20, 4096, 1000] {
            let fromBytes = try bytes.withUnsafeBytes { raw in
                try ArchiveVerifier(platform: platform).verify(bytes: raw, archive: fromFile.archive, chunkSize: chunkSize)
                    .report
            }
            #expect(fromBytes.problems.map(\.description) == fromFile.problems.map(\.description))
            #expect(fromBytes.images.map(\.names) == fromFile.images.map(\.names))
            #expect(fromBytes.bytesRead == fromFile.bytesRead)
        }
    }
}

/// The import's way: a pass that leaves the layers pending (`LayerDecoding.deferred`), then
/// each pending layer decoded from a copy of its file, and `verdict` over what was found. It
/// must say exactly what the inline pass of `verify` says, for every hand-made archive.
@Suite struct DeferredDecodingTests {
    /// Keeps a copy of every file of the archive in a directory, as the import's spool does.
    final class CopySink: ArchiveFileSink {
        let directory: String
        var files: [String: String] = [:]
        private var bytes: [UInt8] = []

        init(directory: String) { self.directory = directory }

        func fileBegan(path: String) throws { bytes = [] }

        func fileData(_ chunk: UnsafeRawBufferPointer) throws { bytes.append(contentsOf: chunk) }

        func fileEnded(_ record: BlobRecord) throws {
            let copy = directory + "/\(files.count)"
            try Data(bytes).write(to: URL(fileURLWithPath: copy))
            files[record.path] = copy
        }
    }

    static let fixtures: [String] = {
        let directory = (try? Fixtures.path("handmade/oci-gzip.tar")).map { URL(fileURLWithPath: $0).deletingLastPathComponent() }
        let names = directory.flatMap { try? FileManager.default.contentsOfDirectory(atPath: $0.path) } ?? []
        return names.filter { $0.hasSuffix(".tar") }.sorted()
    }()

    @Test(arguments: fixtures)
    func theVerdictIsVerifysVerdict(fixture: String) throws {
        let platform = Platform(os: "linux", architecture: "amd64")
        let inline = try ArchiveVerifier(platform: platform).verify(InputFile(path: try Fixtures.path("handmade/" + fixture)))
        let temp = try TemporaryDirectory()
        let sink = CopySink(directory: temp.url.path)
        let verifier = ArchiveVerifier(platform: platform, decoding: .deferred)
        let pending = try verifier.verify(InputFile(path: try Fixtures.path("handmade/" + fixture)), sink: sink)
        #expect(pending.images.allSatisfy { image in image.layers.allSatisfy { $0.pending || $0.compression == .none } })
        var facts: [String: LayerFacts] = [:]
        for path in pending.contents.pendingLayers {
            let file = try #require(sink.files[path])
            facts[path] = try verifier.inspectLayer(file: file, path: path)
        }
        let verdict = verifier.verdict(pending, layers: facts)
        #expect(verdict.report.problems.map(\.description) == inline.report.problems.map(\.description))
        #expect(verdict.images.map(\.diffIDs) == inline.images.map(\.diffIDs))
        #expect(verdict.images.map(\.uncompressedSize) == inline.images.map(\.uncompressedSize))
        #expect(verdict.consistent == inline.consistent)
        // An archive cut short checked no image: nothing to complete.
        #expect(verdict.unreadable || verdict.contents.pendingLayers.isEmpty)
    }
}
