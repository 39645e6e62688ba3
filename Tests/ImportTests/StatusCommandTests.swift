import Foundation
import Testing
import TestSupport

/// `kind-node-import status` against a real containerd: what the host loader asks each node
/// before sending an image.
@Suite(.serialized, .enabled(if: getuid() == 0, "needs root to run containerd")) struct StatusCommandTests {
    @Test func anImportedImageIsPresentByNameImageIDAndTarget() throws {
        let containerd = try PrivateContainerd()
        let archive = try Fixtures.path("real/oci-gzip.tar")
        #expect(try containerd.importArchive(archive).status == 0)
        let target = try containerd.images()["docker.io/kni/sample:gzip"] ?? ""
        let config = try verifiedConfigDigest(archive)
        #expect(config.hasPrefix("sha256:"))
        for query in ["kni/sample:gzip", "docker.io/kni/sample:gzip", config, target] {
            let result = try containerd.status([query])
            #expect(result.status == 0, "\(query): \(result.stdoutText)")
            #expect(result.stdoutText.hasPrefix("present  \(query)"))
            #expect(result.stdoutText.contains("target=\(target)  config=\(config)"), "\(result.stdoutText)")
        }
        let both = try containerd.status(["kni/sample:gzip", "kni/absent:v1"])
        #expect(both.status == 1)
        #expect(both.stdoutText.contains("missing  kni/absent:v1: no image record docker.io/kni/absent:v1"))
    }

    /// What ctr leaves when an unpack fails (a record, no snapshots) is not "present": kubelet
    /// would say "already present on machine" and fail to start the pod.
    @Test func ctrsHalfImportedRecordIsNotPresent() throws {
        let containerd = try PrivateContainerd()
        let archive = try Fixtures.path("handmade/docker25-defect-order.tar")
        // ctr 1.x's import (2.x: --local; its transfer-service import leaves no record here).
        _ = try run(
            [PrivateContainerd.ctrExecutable, "-a", containerd.socket, "-n", "k8s.io", "images", "import"]
                + PrivateContainerd.ctrLocalImportFlags + ["--all-platforms", "-"], stdinFile: archive)
        #expect(try containerd.images().keys.contains("docker.io/kni/docker25-defect-order:v1"), "ctr left no record")
        let result = try containerd.status(["kni/docker25-defect-order:v1"])
        #expect(result.status == 1)
        #expect(result.stdoutText.contains("is not unpacked"), "\(result.stdoutText)")
    }

    @Test func removingASnapshotMakesAnImageMissing() throws {
        let containerd = try PrivateContainerd()
        #expect(try containerd.importArchive(try Fixtures.path("real/oci-gzip.tar")).status == 0)
        // The top snapshot (the last chain ID) has no children: it can be removed.
        struct Report: Decodable {
            var present: Bool
            var layers: Int?
        }
        let before = try containerd.status(["--json", "kni/sample:gzip"])
        let layers = try JSONDecoder().decode([Report].self, from: before.stdout)[0].layers ?? 0
        let snapshots = try containerd.ctr(["snapshots", "ls"]).stdoutText.split(separator: "\n").dropFirst()
            .map { String($0.split(separator: " ", omittingEmptySubsequences: true)[0]) }
        #expect(snapshots.count == layers)
        let parents = Set(
            try containerd.ctr(["snapshots", "ls"]).stdoutText.split(separator: "\n").dropFirst()
                .compactMap { $0.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.map(String.init) })
        let top = snapshots.first { !parents.contains($0) } ?? ""
        _ = try containerd.ctr(["snapshots", "rm", top])
        let after = try containerd.status(["kni/sample:gzip"])
        #expect(after.status == 1)
        // Which layer is named depends on GC: without the top snapshot nothing references the
        // lower ones, and containerd may collect them too.
        #expect(after.stdoutText.contains(" of \(layers) is not unpacked"), "\(after.stdoutText)")
    }

    @Test func unreachableContainerdExits69() throws {
        let result = try run([builtExecutable, "status", "--address", "/nonexistent.sock", "kni/sample:gzip"])
        #expect(result.status == 69)
        #expect(result.stderr.contains("/nonexistent.sock"))
    }
}
