import Foundation
import Testing
import TestSupport

@Suite(.serialized, .enabled(if: getuid() == 0, "needs root to run containerd")) struct ImportCommandTests {
    @Test(arguments: [
        ("real/oci-gzip.tar", "docker.io/kni/sample:gzip"),
        ("real/oci-zstd.tar", "docker.io/kni/sample:zstd"),
        ("handmade/docker25-good.tar", "docker.io/kni/docker25-good:v1"),
        ("handmade/oci-mixed.tar", "docker.io/kni/oci-mixed:v1"),
        ("handmade/oci-multiplatform.tar", "docker.io/kni/oci-multiplatform:v1"),
        ("handmade/docker29-buildx-load.tar", "docker.io/kni/docker29-buildx-load:v1"),
        ("handmade/docker29-pulled.tar", "docker.io/kni/docker29-pulled:v1"),
        ("real/docker-archive.tar", "docker.io/kni/sample:v1"),
        ("handmade/docker-legacy-symlinked.tar", "docker.io/kni/docker-legacy-symlinked:v1"),
    ])
    func soundArchivesImportAndRun(fixture: String, name: String) throws {
        let containerd = try PrivateContainerd()
        let result = try containerd.importArchive(try Fixtures.path(fixture))
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdoutText.contains("imported  \(name)"))
        #expect(try containerd.images().keys.contains(name))
        #expect(try containerd.runImage(name) == "hello from kind-node-import\n")
    }

    @Test(arguments: [
        "wrong-diffid.tar", "count-mismatch.tar", "docker25-defect-count.tar", "docker25-defect-order.tar",
        "corrupted-blob.tar", "missing-blob.tar", "traversal.tar", "hardlink-escape.tar", "truncated.tar",
        "two-images-one-bad.tar", "docker29-attestation-corrupt.tar",
    ])
    func brokenArchivesLeaveNothingBehind(fixture: String) throws {
        let containerd = try PrivateContainerd()
        let result = try containerd.importArchive(try Fixtures.path("handmade/" + fixture))
        #expect(result.status == 65, "\(result.stderr)")
        #expect(result.stderr.contains("refused, nothing was imported"))
        #expect(try containerd.images().isEmpty)
        #expect(try containerd.contentDigests().isEmpty)
        #expect(try containerd.ctr(["snapshots", "ls"]).stdoutText.split(separator: "\n").count <= 1)
    }

    /// Blobs go to containerd while the archive is read (under the lease); when it is then
    /// refused, deleting the lease leaves nothing, no ingest and no lease either. --verify-first
    /// sends nothing before the whole archive verified, and imports the same.
    @Test(arguments: ["wrong-diffid.tar", "docker25-defect-order.tar", "corrupted-blob.tar", "truncated.tar"])
    func storingWhileReadingLeavesNothingOfABrokenArchive(fixture: String) throws {
        let containerd = try PrivateContainerd()
        for flags in [[], ["--verify-first"]] {
            let result = try containerd.importArchive(try Fixtures.path("handmade/" + fixture), flags)
            #expect(result.status == 65, "\(flags) \(result.stderr)")
            #expect(try containerd.images().isEmpty)
            #expect(try containerd.contentDigests().isEmpty)
            #expect(try containerd.ctr(["content", "active"]).stdoutText.split(separator: "\n").count <= 1)
            #expect(try containerd.ctr(["leases", "ls", "-q"]).stdoutText.isEmpty)
        }
        let good = try containerd.importArchive(try Fixtures.path("real/oci-zstd.tar"), ["--verify-first"])
        #expect(good.status == 0, "\(good.stderr)")
        #expect(try containerd.runImage("docker.io/kni/sample:zstd") == "hello from kind-node-import\n")
    }

    /// kind's flags on Docker 29's save of a local build: this node's platform is unpacked, the
    /// attestation stored with the index, and the records target the index, whose digest is the
    /// image ID Docker reports on its containerd store (kind#4236): status finds it by that ID.
    @Test func docker29ArchiveRecordsTargetTheIndex() throws {
        let containerd = try PrivateContainerd()
        let archive = try Fixtures.path("handmade/docker29-buildx-load.tar")
        let facts = try HandmadeExpectations.fixture("docker29-buildx-load.tar")
        let index = try #require(facts["index"] as? String)
        let attestations = try #require(facts["attestations"] as? [String: String])
        let result = try containerd.importArchive(archive, ["--digests"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("not needed on this node: linux/arm64/v8, linux/arm/v7"), "\(result.stderr)")
        let records = try containerd.images()
        #expect(records["docker.io/kni/docker29-buildx-load:v1"] == index)
        #expect(records.contains { $0.key.hasPrefix("import-") && $0.key.hasSuffix("@\(index)") && $0.value == index })
        #expect(try containerd.contentDigests().contains(try #require(attestations["linux/amd64"])))
        let status = try run([builtExecutable, "status", "--address", containerd.socket, "--snapshotter", "overlayfs", index])
        #expect(status.status == 0, "\(status.stdoutText)")
        #expect(status.stdoutText.hasPrefix("present  \(index)"))
        #expect(try containerd.runImage("docker.io/kni/docker29-buildx-load:v1") == "hello from kind-node-import\n")
    }

    @Test func aBrokenImageNeverReplacesTheTagItClaims() throws {
        let containerd = try PrivateContainerd()
        let temp = try TemporaryDirectory()
        // A sound image under the name the broken fixture uses.
        let good = temp.path("good.tar")
        let spec = #"[[{"name": "bin/busybox", "data": "x", "mode": 493}]]"#
        try Fixtures.makeImage(at: good, name: "docker.io/kni/wrong-diffid:v1", layers: spec)
        #expect(try containerd.importArchive(good).status == 0)
        let before = try containerd.images()
        #expect(before["docker.io/kni/wrong-diffid:v1"] != nil)
        let broken = try containerd.importArchive(try Fixtures.path("handmade/wrong-diffid.tar"))
        #expect(broken.status == 65)
        #expect(try containerd.images() == before)
    }

    @Test func everyImageOfADockerSaveArchiveIsImportedWithAManifestLikeCtrWrites() throws {
        let containerd = try PrivateContainerd()
        let result = try containerd.importArchive(try Fixtures.path("handmade/docker-legacy-two-images.tar"))
        #expect(result.status == 0, "\(result.stderr)")
        let listing = try containerd.ctr(["images", "ls"]).stdoutText
        #expect(listing.contains("application/vnd.docker.distribution.manifest.v2+json"))
        #expect(try containerd.runImage("docker.io/kni/docker-legacy-two-images:v1") == "hello from kind-node-import\n")
        #expect(try containerd.runImage("docker.io/kni/docker-legacy-two-images:v2") == "hello from v2\n")
    }

    @Test func reimportingReusesBlobsAndSnapshots() throws {
        let containerd = try PrivateContainerd()
        let archive = try Fixtures.path("real/oci-gzip.tar")
        #expect(try containerd.importArchive(archive).status == 0)
        let again = try containerd.importArchive(archive)
        #expect(again.status == 0)
        #expect(again.stdoutText.contains("layers unpacked=0 reused=4"))
        #expect(again.stderr.contains("0 blobs stored"))
        // Each snapshot names the blob it was checked against: nothing is decompressed again.
        #expect(again.stderr.contains("0 layer(s) decompressed"), "\(again.stderr)")
    }

    /// Snapshots ctr committed carry no label of ours, but the layer blobs ctr stored carry
    /// `containerd.io/uncompressed`: a load over them decompresses nothing either. A blob
    /// that is not the one checked is decompressed and refused (LayerDecodingTests).
    @Test func chainsCtrCommittedAreKnownByTheirBlobs() throws {
        let containerd = try PrivateContainerd()
        let archive = try Fixtures.path("real/oci-zstd.tar")
        _ = try containerd.ctr(["images", "import", "--snapshotter=overlayfs", archive])
        let result = try containerd.importArchive(archive)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdoutText.contains("unpacked=0"), "\(result.stdoutText)")
        #expect(result.stderr.contains("0 layer(s) decompressed"), "\(result.stderr)")
        #expect(try containerd.runImage("docker.io/kni/sample:zstd") == "hello from kind-node-import\n")
    }

    @Test func digestsFlagAddsCtrStyleNames() throws {
        let containerd = try PrivateContainerd()
        #expect(try containerd.importArchive(try Fixtures.path("real/oci-gzip.tar"), ["--digests"]).status == 0)
        let names = try containerd.images().keys
        #expect(names.contains { $0.hasPrefix("import-") && $0.contains("@sha256:") })
        #expect(names.contains("docker.io/kni/sample:gzip"))
    }

    @Test func twoImportsOfTheSameImageAtOnceBothSucceed() async throws {
        let containerd = try PrivateContainerd()
        let archive = try Fixtures.path("real/oci-zstd.tar")
        let socket = containerd.socket
        let command = [builtExecutable, "import", "--address", socket, "--snapshotter=overlayfs", "-"]
        async let first = Task.detached { try run(command, stdinFile: archive).status }.value
        async let second = Task.detached { try run(command, stdinFile: archive).status }.value
        #expect(try await [first, second] == [0, 0])
        #expect(try containerd.runImage("docker.io/kni/sample:zstd") == "hello from kind-node-import\n")
    }

    /// The unpacked snapshots equal the ones `ctr images import` makes of the same archive.
    @Test func unpackedTreesEqualCtrs() throws {
        let temp = try TemporaryDirectory()
        let tool = packageRoot.appendingPathComponent("scripts/containerd-layer-trees").path
        let archive = try Fixtures.path("real/oci-gzip.tar")
        let theirs = try runChecked([tool, archive, temp.path("ctr")]).stdoutText
        let ours = try runChecked([tool, archive, temp.path("ours"), "--importer", builtExecutable]).stdoutText
        // Same diff_ids and chain IDs per layer.
        func chains(_ output: String) -> [String] { output.split(separator: "\n").map { $0.split(separator: " ")[0...2].joined(separator: " ") } }
        #expect(chains(ours) == chains(theirs))
        for index in 0..<chains(ours).count {
            func lines(_ side: String) throws -> [String] {
                try String(contentsOfFile: temp.path("\(side)/layer-\(index).manifest"), encoding: .utf8)
                    .split(separator: "\n").map { line in
                        // Times of "now" (created parents, whiteout devices) differ between the two runs.
                        line.split(separator: " ").filter { !$0.hasPrefix("mtime=17") && !$0.hasPrefix("mtime=18") }
                            .joined(separator: " ")
                    }
            }
            #expect(try lines("ours") == lines("ctr"), "layer \(index)")
        }
    }

    /// SIGKILL while containerd is receiving: no record; once the lease expires, GC has removed
    /// the content and snapshots; the next import removes the dead one's spool.
    @Test(.timeLimit(.minutes(3))) func killedImportLeavesNothingAfterItsLeaseExpires() throws {
        let containerd = try PrivateContainerd()
        let temp = try TemporaryDirectory()
        let big = temp.path("big.tar")
        let spec = #"[[{"name": "a", "size": 200000000}], [{"name": "b", "size": 100000000}]]"#
        try Fixtures.makeImage(at: big, name: "docker.io/kni/big:v1", layers: spec)
        let spool = temp.path("spool")
        try FileManager.default.createDirectory(atPath: spool, withIntermediateDirectories: true)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: builtExecutable)
        process.arguments = [
            "import", "--address", containerd.socket, "--snapshotter=overlayfs", "--lease-expiry", "2",
            "--spool-directory", spool, big,
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Kill it once containerd holds its lease and some of its content (committed blobs or an
        // ingest in progress): it is storing or unpacking by then.
        var writing = false
        for _ in 0..<1000 where !writing {
            let leased = try containerd.ctr(["leases", "ls", "-q"]).stdoutText.contains("kind-node-import-")
            let ingests = try containerd.ctr(["content", "active"]).stdoutText.split(separator: "\n").count
            writing = try leased && (ingests > 1 || !containerd.contentDigests().isEmpty)
            if !writing { usleep(20_000) }
        }
        #expect(writing, "the import never wrote anything under its lease")
        usleep(200_000)
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(process.terminationReason == .uncaughtSignal)
        #expect(try containerd.images().isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: spool).count == 1, "the killed import's spool")
        // It had written something (committed blobs or an ingest in progress) that only its lease holds.
        let ingests = try containerd.ctr(["content", "active"]).stdoutText.split(separator: "\n").count
        #expect(try !containerd.contentDigests().isEmpty || ingests > 1)

        // After the expiry, any GC run collects the lease and what it held.
        sleep(3)
        _ = try containerd.ctr(["leases", "create", "--id", "trigger-gc"])
        _ = try containerd.ctr(["leases", "rm", "--sync", "trigger-gc"])
        #expect(try containerd.ctr(["leases", "ls", "-q"]).stdoutText.isEmpty)
        #expect(try containerd.contentDigests().isEmpty)
        #expect(try containerd.ctr(["snapshots", "ls"]).stdoutText.split(separator: "\n").count <= 1)

        // The next import removes the dead import's spool.
        let next = try run(
            [builtExecutable, "import", "--address", containerd.socket, "--snapshotter=overlayfs", "--spool-directory", spool,
             try Fixtures.path("real/oci-gzip.tar")])
        #expect(next.status == 0, "\(next.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: spool).isEmpty)
    }

    /// The fallback for snapshotters whose mounts our applier does not write into: containerd's
    /// Diff.Apply, its result checked against the diff_id. Forced here on overlayfs, the
    /// snapshotter this machine has.
    @Test(arguments: [
        ("real/oci-gzip.tar", "docker.io/kni/sample:gzip"), ("real/docker-archive.tar", "docker.io/kni/sample:v1"),
    ])
    func containerdsDiffApplyUnpacksWhenAsked(fixture: String, name: String) throws {
        let containerd = try PrivateContainerd()
        let result = try containerd.importArchive(try Fixtures.path(fixture), ["--unpack-with", "containerd"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try containerd.runImage(name) == "hello from kind-node-import\n")
    }

    /// Docker 25.0.0's archives: refused with a hint by default; with --repair, the image that
    /// manifest.json describes is imported, says so, and runs.
    @Test(arguments: ["docker25-defect-order", "docker25-defect-count"])
    func repairImportsWhatManifestJSONDescribes(fixture: String) throws {
        let containerd = try PrivateContainerd()
        let archive = try Fixtures.path("handmade/\(fixture).tar")
        let refused = try containerd.importArchive(archive)
        #expect(refused.status == 65)
        #expect(refused.stderr.contains("Docker 25.0.0"))
        #expect(refused.stderr.contains("hint: --repair"))
        #expect(try containerd.images().isEmpty)

        let repaired = try containerd.importArchive(archive, ["--repair"])
        #expect(repaired.status == 0, "\(repaired.stderr)")
        #expect(repaired.stderr.contains("note: repaired"))
        let name = "docker.io/kni/\(fixture):v1"
        let records = try containerd.images()
        #expect(records.keys.sorted() == [name])
        // The record points at the manifest written from manifest.json, not the archive's broken one.
        let index = try String(decoding: containerd.ctr(["content", "get", records[name]!]).stdout, as: UTF8.self)
        #expect(index.contains("application/vnd.docker.distribution.manifest.v2+json"))
        #expect(try containerd.runImage(name) == "hello from kind-node-import\n")
    }

    /// --repair changes nothing for archives that are sound or broken in other ways.
    @Test func repairLeavesOtherArchivesAlone() throws {
        let containerd = try PrivateContainerd()
        let good = try containerd.importArchive(try Fixtures.path("handmade/docker25-good.tar"), ["--repair"])
        #expect(good.status == 0, "\(good.stderr)")
        #expect(!good.stderr.contains("repaired"))
        let broken = try containerd.importArchive(try Fixtures.path("handmade/wrong-diffid.tar"), ["--repair"])
        #expect(broken.status == 65)
    }

    /// --json: one document on stdout that says what happened, for scripts such as kind-load.
    @Test func jsonSummarySaysWhatHappened() throws {
        let containerd = try PrivateContainerd()
        struct Summary: Decodable {
            struct Image: Decodable {
                var names: [String]
                var target: String
                var layersUnpacked: Int
            }
            struct Problem: Decodable { var code: String }
            var status: String
            var exitCode: Int
            var images: [Image]
            var problems: [Problem]?
            var error: String?
        }
        let imported = try containerd.importArchive(try Fixtures.path("real/oci-gzip.tar"), ["--json"])
        #expect(imported.status == 0, "\(imported.stderr)")
        let good = try JSONDecoder().decode(Summary.self, from: imported.stdout)
        #expect(good.status == "imported" && good.exitCode == 0)
        #expect(good.images.first?.names.contains("docker.io/kni/sample:gzip") == true)
        let records = try containerd.images()
        #expect(good.images.first.map { records[$0.names[0]] == $0.target } == true)

        let refusedRun = try containerd.importArchive(try Fixtures.path("handmade/wrong-diffid.tar"), ["--json"])
        let refused = try JSONDecoder().decode(Summary.self, from: refusedRun.stdout)
        #expect(refused.status == "refused" && refused.exitCode == 65 && refusedRun.status == 65)
        #expect(refused.problems?.contains { $0.code == "diff-id-mismatch" } == true)

        let unreachable = try run(
            [builtExecutable, "import", "--json", "--address", "/nonexistent.sock", try Fixtures.path("real/oci-gzip.tar")])
        let failed = try JSONDecoder().decode(Summary.self, from: unreachable.stdout)
        #expect(failed.status == "failed" && failed.exitCode == 69 && unreachable.status == 69)
        #expect(failed.error?.contains("/nonexistent.sock") == true)
    }

    /// containerd's gRPC server sends bandwidth-estimation PINGs while a blob streams in; before
    /// BandwidthPingFilter, swift-nio-http2 closed the connection after 200 of them, 80–100 MB
    /// into every blob, and each resumed write made containerd hash the ingest again.
    @Test func aLargeBlobIsWrittenInOneUninterruptedStream() throws {
        let containerd = try PrivateContainerd()
        let temp = try TemporaryDirectory()
        let big = temp.path("big.tar")
        try Fixtures.makeImage(at: big, name: "docker.io/kni/large:v1", layers: #"[[{"name": "a", "size": 300000000}]]"#)
        let result = try containerd.importArchive(big)
        #expect(result.status == 0, "\(result.stderr)")
        let log = try String(contentsOfFile: containerd.directory + "/containerd.log", encoding: .utf8)
        let failures = log.split(separator: "\n").filter { $0.contains("(*service).Write failed") }
        #expect(failures.isEmpty, "containerd saw broken Write streams: \(failures.prefix(3))")
        #expect(try containerd.images()["docker.io/kni/large:v1"] != nil)
    }

    @Test func unreachableContainerdExits69AndArchiveErrorsComeFirst() throws {
        let missing = try run(
            [builtExecutable, "import", "--address", "/nonexistent/containerd.sock", try Fixtures.path("real/oci-gzip.tar")])
        #expect(missing.status == 69)
        #expect(missing.stderr.contains("/nonexistent/containerd.sock"))
        let broken = try run(
            [builtExecutable, "import", "--address", "/nonexistent/containerd.sock", try Fixtures.path("handmade/wrong-diffid.tar")])
        #expect(broken.status == 65)
        #expect(try run([builtExecutable, "import", "/nonexistent/archive.tar"]).status == 66)
    }
}
