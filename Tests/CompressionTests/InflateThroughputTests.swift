#if canImport(CISAL)
import Core
import Foundation
import Testing

@testable import Compression

/// Inflate throughput of zlib's and ISA-L's gzip decoders on one large gzip file, for
/// `scripts/bench-inflate`, which sets KNI_BENCH_INFLATE to the file (skipped otherwise). The
/// work is in the C libraries (Debian's -O2 builds and ISA-L's assembly), so the debug build of
/// the tests measures them: the Swift code runs once per 1 MiB of input and 256 KiB of output.
@Suite struct InflateThroughput {
    static let file = ProcessInfo.processInfo.environment["KNI_BENCH_INFLATE"]

    @Test(.enabled(if: file != nil, "scripts/bench-inflate sets KNI_BENCH_INFLATE"))
    func inflateThroughput() throws {
        let path = try #require(Self.file)
        let runs = Int(ProcessInfo.processInfo.environment["KNI_BENCH_RUNS"] ?? "") ?? 3
        let compressed = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        let mib = 1024.0 * 1024.0
        print("bench-inflate: \(path): \(String(format: "%.1f", Double(compressed.count) / mib)) MiB, median of \(runs) runs")

        // Byte-exact first (untimed): both decoders' output has the same SHA-256.
        var digests: [String] = []
        for inflater in Inflater.allCases {
            var digester = Digester()
            try feed(compressed, to: inflater.make()) { digester.update($0) }
            digests.append("\(digester.finalize()) \(digester.count)")
        }
        #expect(digests[0] == digests[1], "zlib and ISA-L decoded differently: \(digests)")
        print("bench-inflate: output \(digests[0]) bytes, the same from zlib and ISA-L")

        var medians: [String: Double] = [:]
        for verify in [true, false] {
            for inflater in Inflater.allCases {
                var seconds: [Double] = []
                var produced = 0
                for _ in 0..<runs {
                    produced = 0
                    let decoder = try inflater.make(verify: verify)
                    let start = ContinuousClock.now
                    try feed(compressed, to: decoder) { produced += $0.count }
                    let elapsed = ContinuousClock.now - start
                    seconds.append(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
                }
                let median = seconds.sorted()[runs / 2]
                medians["\(inflater) \(verify)"] = median
                let mode = verify ? "CRC-32" : "no CRC-32"
                let line = "\(inflater.rawValue.padding(toLength: 5, withPad: " ", startingAt: 0)) "
                    + "\(mode.padding(toLength: 10, withPad: " ", startingAt: 0)) "
                    + String(
                        format: "%6.2f s  %7.1f MiB/s out  %6.1f MiB/s in", median, Double(produced) / mib / median,
                        Double(compressed.count) / mib / median)
                    + "  (runs: \(seconds.map { String(format: "%.2f", $0) }.joined(separator: " ")))"
                print("bench-inflate: \(line)")
            }
            if let zlib = medians["zlib \(verify)"], let isal = medians["isal \(verify)"] {
                let mode = verify ? "CRC-32" : "no CRC-32"
                print("bench-inflate: ISA-L / zlib time \(String(format: "%.2f", isal / zlib)) (\(mode))")
            }
        }
    }

    /// Feeds `data` in 1 MiB chunks, as verify and the import read archives.
    private func feed(_ data: Data, to decoder: any StreamDecoder, sink: ByteSink) throws {
        try data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let end = min(raw.count, offset + (1 << 20))
                try decoder.feed(UnsafeRawBufferPointer(rebasing: raw[offset..<end]), into: sink)
                offset = end
            }
        }
        try decoder.finish()
    }
}
#endif
