// swift-tools-version:6.1
// Fuzz targets for kind-node-import (docs/fuzzing.md): libFuzzer executables, one per parser.
// A package of its own so the main build and `swift test` never see the sanitizer flags. Its
// library targets are the project's own modules (Modules/ holds symlinks to ../Sources), built
// here with coverage and AddressSanitizer; only swift-crypto (Core's SHA-256) is not instrumented.
// Run through scripts/fuzz, which builds this package in release mode with assertions kept.
import PackageDescription

// KNI_FUZZ_ASAN=0 (scripts/fuzz --no-asan) leaves AddressSanitizer out: large allocations
// (decoder buffers, libzstd's contexts) then come from malloc's cache instead of ASan's mmap.
let sanitizers = Context.environment["KNI_FUZZ_ASAN"] == "0" ? "fuzzer" : "fuzzer,address"
let instrumented: [SwiftSetting] = [.unsafeFlags(["-sanitize=\(sanitizers)"])]
let instrumentedC: [CSetting] = [
    .unsafeFlags([sanitizers == "fuzzer" ? "-fsanitize=fuzzer-no-link" : "-fsanitize=fuzzer-no-link,address"])
]
// ISA-L's C code built with the same instrumentation by scripts/build-isal (scripts/fuzz sets
// KNI_FUZZ_ISAL_LIB to its directory), else the system's libisal.so.
let isalLibrary: [LinkerSetting] = Context.environment["KNI_FUZZ_ISAL_LIB"].map { [.unsafeFlags(["-L\($0)"])] } ?? []
// lld: gold warns about an ASan symbol it cannot export.
let fuzzerMain: [LinkerSetting] = [.unsafeFlags(["-sanitize=\(sanitizers)", "-use-ld=lld"])]

func module(_ name: String, _ dependencies: [Target.Dependency]) -> Target {
    .target(name: name, dependencies: dependencies, path: "Modules/\(name)", swiftSettings: instrumented)
}

func fuzzTarget(_ name: String, _ dependencies: [Target.Dependency]) -> Target {
    .executableTarget(
        name: name, dependencies: dependencies + ["FuzzSupport"], path: "Targets/\(name)",
        swiftSettings: instrumented, linkerSettings: fuzzerMain)
}

let package = Package(
    name: "kind-node-import-fuzz",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0")
    ],
    targets: [
        .target(
            name: "CKindShims", path: "Modules/CKindShims", cSettings: instrumentedC,
            linkerSettings: [.linkedLibrary("z"), .linkedLibrary("zstd")]),
        .target(
            name: "CISAL", path: "Modules/CISAL", cSettings: instrumentedC,
            linkerSettings: [.linkedLibrary("isal")] + isalLibrary),
        .target(name: "CLinuxShims", path: "Modules/CLinuxShims", cSettings: instrumentedC),
        module("POSIX", ["CLinuxShims"]),
        module("Core", ["POSIX", .product(name: "Crypto", package: "swift-crypto")]),
        module("Compression", ["CKindShims", "CISAL", "Core"]),
        module("Tar", ["Core"]),
        module("OCI", ["Core", "Compression"]),
        module("Verification", ["Core", "Compression", "Tar", "OCI"]),

        // libFuzzer's driver, called from each target's `@main` (not instrumented).
        .target(name: "FuzzSupport", path: "Targets/FuzzSupport"),
        fuzzTarget("FuzzTar", ["Tar", "Core"]),
        fuzzTarget("FuzzVerifier", ["Verification", "OCI", "Core"]),
        // What the gzip and zstd targets check of a decoder (instrumented like the modules).
        .target(
            name: "DecoderCheck", dependencies: ["Compression", "Core"], path: "Targets/DecoderCheck",
            swiftSettings: instrumented),
        fuzzTarget("FuzzGzip", ["Compression", "DecoderCheck"]),
        fuzzTarget("FuzzZstd", ["Compression", "DecoderCheck"]),
        fuzzTarget("FuzzImageReference", ["OCI", "Core"]),
    ]
)
