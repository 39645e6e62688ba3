import ContainerdAPI
import Foundation
import Testing
import TestSupport

/// `kind-node-import doctor [--fix]` against a real containerd: the records `ctr images import`
/// really leaves (1.x's client-side path: records first, then an unpack that fails), CRI's
/// `sha256:` ID records beside them, records whose blobs were deleted, and records that are no
/// image. Found with their reason; `--fix` removes exactly those and nothing else.
@Suite(.serialized, .enabled(if: getuid() == 0, "needs root to run containerd")) struct DoctorTests {
    static let hello = "hello from kind-node-import\n"

    struct Entry: Decodable {
        var name: String
        var target: String
        var mediaType: String
        var size: Int64
        var present: Bool
        var broken: Bool
        var reason: String?
        var removed: Bool
        var note: String?
    }

    func doctor(_ containerd: PrivateContainerd, _ arguments: [String] = []) throws -> ProcessResult {
        try run([builtExecutable, "doctor", "--address", containerd.socket, "--snapshotter", "overlayfs"] + arguments)
    }

    func entries(_ result: ProcessResult) throws -> [Entry] {
        try JSONDecoder().decode([Entry].self, from: result.stdout)
    }

    /// `ctr images import` of `fixture` the way ctr 1.x does it (2.x: `--local`), with kind's
    /// `--all-platforms`: it fails, and leaves its records.
    func ctrImport(_ containerd: PrivateContainerd, _ fixture: String) throws {
        let result = try run(
            [PrivateContainerd.ctrExecutable, "-a", containerd.socket, "-n", "k8s.io", "images", "import", "--all-platforms"]
                + PrivateContainerd.ctrLocalImportFlags + ["-"],
            stdinFile: try Fixtures.path(fixture))
        #expect(result.status != 0, "ctr imported \(fixture): \(result.stdoutText)")
    }

    /// The records once CRI has added its `sha256:<config>` ID record for every target in
    /// `targets` (it does so from containerd's events, a moment after the records appear), or
    /// after 5 s when it does not.
    func recordsAfterCRI(_ containerd: PrivateContainerd, targets: Set<String>) throws -> [String: String] {
        for _ in 0..<50 {
            let records = try containerd.images()
            let withID = Set(records.filter { $0.key.hasPrefix("sha256:") }.values)
            if targets.isSubset(of: withID) { return records }
            usleep(100_000)
        }
        return try containerd.images()
    }

    /// What ctr 1.6 leaves on a node (a Docker 25.0.0-style archive whose layers fail to unpack,
    /// and an archive with a wrong diff_id), CRI's ID records for them included, next to a sound
    /// image imported by kind-node-import: doctor lists exactly ctr's records with the reason
    /// and exits 1; --fix removes exactly them, prints each name and target, and the sound image
    /// still runs; doctor then exits 0.
    @Test func ctrsLeftoversAreFoundAndFixRemovesExactlyThem() throws {
        let containerd = try PrivateContainerd(cri: true)
        #expect(try containerd.importArchive(try Fixtures.path("real/oci-gzip.tar")).status == 0)
        let good = "docker.io/kni/sample:gzip"
        try ctrImport(containerd, "handmade/docker25-defect-order.tar")
        try ctrImport(containerd, "handmade/wrong-diffid.tar")
        var records = try containerd.images()
        let ctrNames = ["docker.io/kni/docker25-defect-order:v1", "kni/wrong-diffid:v1"]
        for name in ctrNames { #expect(records[name] != nil, "ctr left no record \(name): \(records)") }
        let brokenTargets = Set(ctrNames.compactMap { records[$0] })
        #expect(brokenTargets.count == 2)
        records = try recordsAfterCRI(containerd, targets: brokenTargets.union([records[good] ?? ""]))
        let broken = Set(records.filter { brokenTargets.contains($0.value) }.keys)
        let sound = Set(records.keys).subtracting(broken)
        #expect(sound.contains(good))
        #expect(broken.isSuperset(of: ctrNames))
        if PrivateContainerd.majorVersion == 1 {
            // containerd 1.6's CRI adds sha256:<config> beside each record it sees created.
            #expect(broken.filter { $0.hasPrefix("sha256:") }.count == 2, "\(records)")
        }

        let listed = try doctor(containerd)
        #expect(listed.status == 1, "\(listed.stderr)")
        let lines = listed.stdoutText.split(separator: "\n").map(String.init)
        #expect(lines.count == broken.count + 1, "\(listed.stdoutText)")
        for name in broken {
            let line = lines.first { $0.hasPrefix("broken   \(name)  target=\(records[name] ?? ""): layer ") }
            #expect(line?.contains(" is not unpacked (no committed overlayfs snapshot sha256:") == true, "\(name): \(listed.stdoutText)")
        }
        for name in sound { #expect(!listed.stdoutText.contains(" \(name) "), "\(listed.stdoutText)") }
        let summary = lines.last ?? ""
        #expect(summary.hasPrefix("doctor: \(records.count) image record(s) in namespace k8s.io (snapshotter overlayfs, linux/"))
        #expect(summary.hasSuffix("): \(sound.count) fully present, \(broken.count) not"), "\(listed.stdoutText)")

        let json = try doctor(containerd, ["--json"])
        #expect(json.status == 1)
        let report = try entries(json)
        #expect(report.map(\.name) == records.keys.sorted())
        #expect(Set(report.filter(\.broken).map(\.name)) == broken)
        #expect(Set(report.filter(\.present).map(\.name)) == sound)
        #expect(report.allSatisfy { !$0.removed && $0.target == records[$0.name] })
        #expect(report.filter(\.broken).allSatisfy { $0.reason?.contains("is not unpacked") == true })

        let fixed = try doctor(containerd, ["--fix"])
        #expect(fixed.status == 0, "\(fixed.stdoutText)\(fixed.stderr)")
        let fixedLines = fixed.stdoutText.split(separator: "\n").map(String.init)
        #expect(fixedLines.count == broken.count + 1, "\(fixed.stdoutText)")
        for name in broken {
            #expect(
                fixedLines.contains {
                    $0.hasPrefix("removed  \(name)  target=\(records[name] ?? "")  mediaType=application/vnd.oci.image.manifest.v1+json  size=")
                }, "\(name): \(fixed.stdoutText)")
        }
        #expect(fixedLines.last?.hasSuffix(", \(broken.count) not, \(broken.count) removed") == true, "\(fixed.stdoutText)")
        let after = try containerd.images()
        #expect(Set(after.keys) == sound, "\(after)")
        #expect(after.allSatisfy { records[$0.key] == $0.value })
        #expect(try containerd.runImage(good) == Self.hello)

        let again = try doctor(containerd)
        #expect(again.status == 0, "\(again.stdoutText)")
        #expect(again.stdoutText.hasPrefix("doctor: \(sound.count) image record(s)"), "\(again.stdoutText)")
        #expect(again.stdoutText.hasSuffix("\(sound.count) fully present, 0 not\n"))
        let fixNothing = try doctor(containerd, ["--fix"])
        #expect(fixNothing.status == 0)
        #expect(fixNothing.stdoutText.hasSuffix(", 0 not, 0 removed\n"), "\(fixNothing.stdoutText)")
    }

    /// A record whose manifest was deleted from the content store is found; a layer blob gone
    /// under an unpacked layer is no fault (kind's discard_unpacked_layers does that to every
    /// image CRI pulls). --fix --json removes that record only.
    @Test func aRecordWhoseBlobIsGoneIsFound() throws {
        let containerd = try PrivateContainerd()
        #expect(try containerd.importArchive(try Fixtures.path("real/oci-gzip.tar")).status == 0)
        #expect(try containerd.importArchive(try Fixtures.path("real/oci-zstd.tar")).status == 0)
        let (gzip, zstd) = ("docker.io/kni/sample:gzip", "docker.io/kni/sample:zstd")
        let records = try containerd.images()
        let target = try #require(records[zstd])
        #expect(try doctor(containerd).status == 0)

        // A zstd layer blob (gzip's layers are other blobs with the same diff_ids).
        struct Manifest: Decodable {
            struct Layer: Decodable { var digest: String }
            var layers: [Layer]
        }
        let manifest = try JSONDecoder().decode(Manifest.self, from: try containerd.ctr(["content", "get", target]).stdout)
        let layer = try #require(manifest.layers.first?.digest)
        _ = try containerd.ctr(["content", "rm", layer])
        #expect(try !containerd.contentDigests().contains(layer))
        let withoutLayer = try doctor(containerd)
        #expect(withoutLayer.status == 0, "\(withoutLayer.stdoutText)")

        _ = try containerd.ctr(["content", "rm", target])
        let listed = try doctor(containerd)
        #expect(listed.status == 1)
        #expect(
            listed.stdoutText.hasPrefix("broken   \(zstd)  target=\(target): \(target) is not in the content store\n"),
            "\(listed.stdoutText)")
        #expect(!listed.stdoutText.contains(gzip))

        let fixed = try doctor(containerd, ["--fix", "--json"])
        #expect(fixed.status == 0, "\(fixed.stderr)")
        let report = try entries(fixed)
        #expect(report.map(\.name) == [gzip, zstd])
        #expect(report[0].present && !report[0].broken && !report[0].removed)
        #expect(report[1].broken && report[1].removed && report[1].target == target && report[1].size > 0)
        #expect(try containerd.images() == [gzip: records[gzip] ?? ""])
        #expect(try containerd.runImage(gzip) == Self.hello)
        #expect(try doctor(containerd).status == 0)
    }

    /// A record whose target is no image (an OCI artifact) is shown as skipped, does not make
    /// doctor fail, and survives --fix.
    @Test func aRecordOfAnArtifactIsLeftAlone() async throws {
        let daemon = try await offPool { Handed(value: try PrivateContainerd()) }.value
        let socket = daemon.socket
        let digest = "sha256:" + String(repeating: "ab", count: 32)
        try await ContainerdConnection.withConnection(socket: socket, namespace: "k8s.io") { containerd in
            _ = try await containerd.images.create(
                .with {
                    $0.image = .with {
                        $0.name = "example.com/charts/app:1.0"
                        $0.target = .with {
                            $0.mediaType = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
                            $0.digest = digest
                            $0.size = 42
                        }
                    }
                }, metadata: containerd.metadata())
        }
        let (listed, fixed, records) = try await offPool { [daemon = Handed(value: daemon)] in
            (
                try self.doctor(daemon.value, []), try self.doctor(daemon.value, ["--fix"]), try daemon.value.images()
            )
        }
        #expect(listed.status == 0, "\(listed.stdoutText)")
        #expect(
            listed.stdoutText.hasPrefix(
                "skipped  example.com/charts/app:1.0  target=\(digest): it points at a application/vnd.cncf.helm.chart.content.v1.tar+gzip, which is no image (not checked)\n"
            ), "\(listed.stdoutText)")
        #expect(listed.stdoutText.hasSuffix(": 0 fully present, 0 not, 1 not an image (not checked)\n"))
        #expect(fixed.status == 0)
        #expect(records == ["example.com/charts/app:1.0": digest])
    }

    @Test func unreachableContainerdExits69() throws {
        let result = try run([builtExecutable, "doctor", "--address", "/nonexistent.sock"])
        #expect(result.status == 69)
        #expect(result.stderr.hasPrefix("kind-node-import: "), "\(result.stderr)")
        #expect(result.stderr.contains("/nonexistent.sock"))
    }

    /// Blocking work (processes) on a Dispatch thread, off Swift concurrency's shared threads.
    func offPool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(with: Result { try work() }) }
        }
    }

    /// A value handed from a Dispatch thread to the test that owns it.
    struct Handed<Value>: @unchecked Sendable { var value: Value }
}
