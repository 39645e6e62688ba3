// libFuzzer target: ArchiveVerifier on a whole archive held in memory (the outer tar, every
// blob hashed, layers decompressed and scanned, the JSON documents decoded and checked), then
// the Docker 25 repair and the `verify --json` report.
// Input: the archive. Checks: no crash, no trap, memory within libFuzzer's limit; the report
// encodes to JSON and decodes back; feeding the archive in 4 KiB chunks gives the same verdict.
import Core
import FuzzSupport
import OCI
import Verification

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

func verdict(_ verified: VerifiedArchive) -> [String] {
    verified.problems.map { "\($0.severity.rawValue) \($0.code): \($0)" }
        + verified.images.map { "\($0.label) \($0.diffIDs) \($0.consistent)" }
}

@main
enum Main {
    static func main() { runLibFuzzer(fuzz) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let archive = UnsafeRawBufferPointer(start: data, count: size)
    let verifier = ArchiveVerifier(platform: Platform(os: "linux", architecture: "amd64"))
    let verified: VerifiedArchive
    let chunked: VerifiedArchive
    do {
        verified = try verifier.verify(bytes: archive, archive: "fuzz.tar")
        chunked = try verifier.verify(bytes: archive, archive: "fuzz.tar", chunkSize: 4096)
    } catch {
        preconditionFailure("verify(bytes:) threw \(error)")
    }
    precondition(verdict(verified) == verdict(chunked), "chunking changed the verdict")
    precondition(verified.contents.bytesRead <= Int64(size), "read \(verified.contents.bytesRead) of \(size) bytes")
    var reports = [verified.report]
    if let repaired = verifier.repairingDocker25Defect(verified) { reports.append(repaired.report) }
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    for report in reports {
        do {
            let json = try encoder.encode(report)
            let decoded = try JSONDecoder().decode(VerificationReport.self, from: json)
            precondition(decoded.problems.count == report.problems.count, "problems lost in JSON")
            precondition(decoded.consistent == report.consistent, "consistent changed in JSON")
        } catch {
            preconditionFailure("the report does not round-trip through JSON: \(error)")
        }
    }
    return 0
}
