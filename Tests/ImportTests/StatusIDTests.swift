import Foundation
import Testing
import TestSupport

/// `kind-node-import status IMAGE... --id DIGEST...`: is each image present *and* the host's
/// image? What the host loader decides on, by the exit code alone (docs/kind-load.md).
@Suite(.serialized, .enabled(if: getuid() == 0, "needs root to run containerd")) struct StatusIDTests {
    struct Entry: Decodable {
        var query: String
        var present: Bool
        var expectedID: String?
        var current: Bool?
    }

    let other = "sha256:" + String(repeating: "0123456789abcdef", count: 4)

    /// Docker's classic store (and podman) report the config digest as the image ID; a record
    /// whose target is the ID counts too. Another ID is "stale", an absent image "missing".
    @Test func currentByConfigOrTargetStaleOtherwise() throws {
        let containerd = try PrivateContainerd()
        let archive = try Fixtures.path("real/oci-gzip.tar")
        #expect(try containerd.importArchive(archive).status == 0)
        let target = try containerd.images()["docker.io/kni/sample:gzip"] ?? ""
        let config = try verifiedConfigDigest(archive)
        #expect(config.hasPrefix("sha256:") && target.hasPrefix("sha256:") && config != target)

        for id in [config, target] {
            let result = try containerd.status(["kni/sample:gzip", "--id", id])
            #expect(result.status == 0, "\(id): \(result.stdoutText)")
            #expect(result.stdoutText.hasPrefix("present  kni/sample:gzip  record=docker.io/kni/sample:gzip  target=\(target)  config=\(config)"))
        }

        let stale = try containerd.status(["kni/sample:gzip", "--id", other])
        #expect(stale.status == 1)
        #expect(
            stale.stdoutText
                == "stale    kni/sample:gzip: docker.io/kni/sample:gzip holds another image (target=\(target)  config=\(config)), not \(other)\n")

        let missing = try containerd.status(["kni/absent:v1", "--id", config])
        #expect(missing.status == 1)
        #expect(missing.stdoutText == "missing  kni/absent:v1: no image record docker.io/kni/absent:v1\n")

        // Each --id goes with the IMAGE in the same place; one that is not current fails all.
        let pair = try containerd.status(["kni/sample:gzip", config, "--id", target, "--id", config])
        #expect(pair.status == 0, "\(pair.stdoutText)")
        let mixed = try containerd.status(["kni/sample:gzip", "kni/sample:gzip", "--id", config, "--id", other])
        #expect(mixed.status == 1)
        #expect(mixed.stdoutText.hasPrefix("present  kni/sample:gzip  record="), "\(mixed.stdoutText)")
        #expect(mixed.stdoutText.contains("\nstale    kni/sample:gzip: "), "\(mixed.stdoutText)")

        let json = try containerd.status(["--json", "kni/sample:gzip", "kni/sample:gzip", "kni/absent:v1", "--id", target, "--id", other, "--id", config])
        #expect(json.status == 1)
        let entries = try JSONDecoder().decode([Entry].self, from: json.stdout)
        #expect(entries.map(\.present) == [true, true, false])
        #expect(entries.map(\.current) == [true, false, false])
        #expect(entries.map(\.expectedID) == [target, other, config])
    }

    /// Docker 29's containerd store reports the image index's digest as the ID (kind#4236); our
    /// import records that index as the target. The platform's manifest is neither.
    @Test func docker29IndexDigestIsCurrent() throws {
        let containerd = try PrivateContainerd()
        let facts = try HandmadeExpectations.fixture("docker29-buildx-load.tar")
        let index = try #require(facts["index"] as? String)
        let image = try #require((facts["images"] as? [[String: Any]])?.first)
        let (config, manifest) = (try #require(image["config"] as? String), try #require(image["manifest"] as? String))
        #expect(try containerd.importArchive(try Fixtures.path("handmade/docker29-buildx-load.tar")).status == 0)
        for id in [index, config] {
            let result = try containerd.status(["kni/docker29-buildx-load:v1", "--id", id])
            #expect(result.status == 0, "\(id): \(result.stdoutText)")
            #expect(result.stdoutText.hasPrefix("present  kni/docker29-buildx-load:v1  "))
        }
        let byIndex = try containerd.status([index, "--id", index])
        #expect(byIndex.status == 0, "\(byIndex.stdoutText)")
        let byManifest = try containerd.status(["kni/docker29-buildx-load:v1", "--id", manifest])
        #expect(byManifest.status == 1)
        #expect(byManifest.stdoutText.hasPrefix("stale    kni/docker29-buildx-load:v1: docker.io/kni/docker29-buildx-load:v1 holds another image (target=\(index)  config=\(config)), not \(manifest)"), "\(byManifest.stdoutText)")
    }

    /// Without --id, --json keeps the presence report alone (no expectedID, no current).
    @Test func withoutIDTheJSONIsUnchanged() throws {
        let containerd = try PrivateContainerd()
        #expect(try containerd.importArchive(try Fixtures.path("real/oci-gzip.tar")).status == 0)
        let result = try containerd.status(["--json", "kni/sample:gzip"])
        #expect(result.status == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: result.stdout) as? [[String: Any]])
        #expect(Set(object[0].keys) == ["query", "present", "record", "target", "config", "layers"])
    }

    @Test(arguments: [
        (["kni/a:v1", "kni/b:v1", "--id", "sha256:" + String(repeating: "ab", count: 32)], "once per IMAGE"),
        (["kni/a:v1", "--id", "abababab"], "must be a sha256: digest"),
        (["kni/a:v1", "--id", "sha256:" + String(repeating: "ab", count: 32), "--id", "sha256:" + String(repeating: "cd", count: 32)], "once per IMAGE"),
    ])
    func usageErrors(arguments: [String], message: String) throws {
        let result = try run([builtExecutable, "status", "--address", "/nonexistent.sock"] + arguments)
        #expect(result.status == 64)
        #expect(result.stderr.contains(message), "\(result.stderr)")
    }
}
