import Foundation
import Testing
import TestSupport

/// Runs the built `kind-node-import` binary.
func cli(_ arguments: [String], stdinFile: String? = nil) throws -> ProcessResult {
    try run([builtExecutable] + arguments, stdinFile: stdinFile)
}

@Suite struct VerifyCommandTests {
    @Test func soundArchiveExitsZeroWithOneLinePerImage() throws {
        let result = try cli(["verify", try Fixtures.path("handmade/docker-legacy-two-images.tar")])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdoutText.split(separator: "\n")
        #expect(lines.count == 2)
        #expect(lines.first?.hasPrefix("ok  kni/docker-legacy-two-images:v1  linux/amd64  manifest=none  config=sha256:") == true)
        #expect(lines.allSatisfy { $0.contains("layers=") && $0.contains("size=") && $0.contains("unpacked=") })
        #expect(result.stderr.contains("consistent (2 images"))
    }

    @Test func readsStandardInputWithDashOrNoArgument() throws {
        let archive = try Fixtures.path("real/oci-gzip.tar")
        for arguments in [["verify", "-"], ["verify"]] {
            let result = try cli(arguments, stdinFile: archive)
            #expect(result.status == 0, "\(arguments): \(result.stderr)")
            #expect(result.stdoutText.contains("kni/sample:gzip"))
            #expect(result.stderr.hasPrefix("-: consistent"))
        }
    }

    @Test func inconsistentArchiveExits65AndNamesTheLayer() throws {
        let result = try cli(["verify", try Fixtures.path("handmade/wrong-diffid.tar")])
        #expect(result.status == 65)
        #expect(result.stdoutText.hasPrefix("INVALID  kni/wrong-diffid:v1"))
        #expect(result.stderr.contains("error: kni/wrong-diffid:v1 (linux/amd64), layer 2 of 3 sha256:"))
        #expect(result.stderr.contains("rootfs.diff_ids[1]"))
    }

    @Test func docker25ArchiveFromStandardInputIsRefusedWithTheDiagnosis() throws {
        let result = try cli(["verify", "-"], stdinFile: try Fixtures.path("handmade/docker25-defect-count.tar"))
        #expect(result.status == 65)
        #expect(result.stderr.contains("Docker 25.0.0"))
        #expect(result.stderr.contains("manifest.json lists the 4 layers consistently"))
    }

    @Test func hostileArchiveExits65() throws {
        let result = try cli(["verify", try Fixtures.path("handmade/traversal.tar")])
        #expect(result.status == 65)
        #expect(result.stderr.contains("path \"../../etc/evil\""))
    }

    @Test func jsonReportIsMachineReadable() throws {
        let result = try cli(["verify", "--json", try Fixtures.path("handmade/missing-blob.tar")])
        #expect(result.status == 65)
        let object = try #require(try JSONSerialization.jsonObject(with: result.stdout) as? [String: Any])
        #expect(object["consistent"] as? Bool == false)
        #expect(object["format"] as? String == "oci")
        let problems = try #require(object["problems"] as? [[String: Any]])
        #expect(problems.first?["code"] as? String == "blob-missing")
        #expect(problems.first?["layer"] as? Int == 1)
        let images = try #require(object["images"] as? [[String: Any]])
        #expect(images.first?["names"] as? [String] == ["kni/missing-blob:v1"])
    }

    @Test func progressIsDrawnOnATerminalOnly() throws {
        let archive = try Fixtures.path("real/oci-gzip.tar")
        // script(1) gives the command a terminal; its output is what the terminal showed.
        let onTerminal = try run(["script", "-qec", "\(builtExecutable) verify \(archive)", "/dev/null"])
        #expect(onTerminal.stdoutText.contains("verifying \(archive): "))
        #expect(onTerminal.stdoutText.contains("\u{1b}[K"))
        let piped = try cli(["verify", archive])
        #expect(!piped.stderr.contains("verifying"))
    }

    @Test func missingInputExits66() throws {
        let result = try cli(["verify", "/nonexistent/archive.tar"])
        #expect(result.status == 66)
        #expect(result.stderr.contains("cannot open /nonexistent/archive.tar: No such file or directory"))
    }

    @Test func readErrorExits74() throws {
        // Reading a process's own memory at offset 0 fails with EIO: a real read error.
        let result = try cli(["verify", "/proc/self/mem"])
        #expect(result.status == 74, "\(result.stderr)")
        #expect(result.stderr.contains("cannot read /proc/self/mem"))
    }

    @Test func usageErrorsExit64() throws {
        #expect(try cli(["verify", "--platform", "amd64", "x.tar"]).status == 64)
        #expect(try cli(["verify", "--no-such-flag"]).status == 64)
        #expect(try cli(["verify", "a.tar", "b.tar"]).status == 64)
    }

    @Test func platformOptionPicksTheManifest() throws {
        let archive = try Fixtures.path("handmade/oci-multiplatform.tar")
        let arm = try cli(["verify", "--platform", "linux/arm64/v8", archive])
        #expect(arm.status == 65)
        #expect(arm.stderr.contains("the config blob is not in the archive"))
        let amd = try cli(["verify", "--platform", "linux/amd64", archive])
        #expect(amd.status == 0)
        #expect(amd.stderr.contains("note: "))
    }
}
