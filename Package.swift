// swift-tools-version:6.1
// kind-node-import: verified, atomic image import for Kind nodes.
// Modules, lowest first (C shims aside; docs/architecture.md has the graph and a layer's path):
//   POSIX → Core → Compression → Tar → OCI → Verification → LayerApplier → ContainerdAPI → Import
//   → Commands → kind-node-import
import PackageDescription

// gzip layers inflate with ISA-L (Debian's libisal-dev) on Linux; zlib stays for builds without it:
// other hosts, and `KNI_ISAL=0 swift build`. Compression chooses with `#if canImport(CISAL)`.
#if os(Linux)
let withISAL = Context.environment["KNI_ISAL"] != "0"
#else
let withISAL = false
#endif
// ISA-L's igzip and CRC-32 headers (no shims needed); links libisal. Only Compression/IsalGzip.swift
// uses it. The static node binary links libisal.a from scripts/build-isal (Debian ships only the .so).
let isalTargets: [Target] = withISAL ? [.target(name: "CISAL", linkerSettings: [.linkedLibrary("isal")])] : []

let package = Package(
    name: "kind-node-import",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "kind-node-import", targets: ["kind-node-import"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
        // containerd's gRPC API (ContainerdAPI). swift-protobuf without its default traits, as
        // grpc-swift-protobuf declares it, so full Foundation (ICU) is not linked.
        .package(url: "https://github.com/grpc/grpc-swift-2", exact: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport", exact: "2.9.2"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf", exact: "2.4.1"),
        .package(url: "https://github.com/apple/swift-protobuf", exact: "1.39.0", traits: []),
        // Already in the gRPC graph; named for BandwidthPingFilter (ContainerdAPI).
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-http2", from: "1.46.0"),
    ],
    targets: [
        // C shims for what Swift cannot call directly (zlib's init macros); links zlib and libzstd.
        .target(
            name: "CKindShims",
            linkerSettings: [.linkedLibrary("z"), .linkedLibrary("zstd")]
        ),
        // C shims for Linux system calls (openat2, makedev); only POSIX calls them.
        .target(name: "CLinuxShims"),
        // The OS layer: owned file descriptors, EINTR-safe calls, one error (operation, path, errno).
        .target(name: "POSIX", dependencies: ["CLinuxShims"]),
        // Digests, hashing, input files and exit codes shared by every module.
        .target(name: "Core", dependencies: ["POSIX", .product(name: "Crypto", package: "swift-crypto")]),
        // gzip (ISA-L, else zlib) and zstd (libzstd) streaming decoders, one Swift file per C library.
        .target(name: "Compression", dependencies: ["CKindShims", "Core"] + (withISAL ? ["CISAL"] : [])),
        // Push-driven tar parser: ustar, GNU and PAX headers.
        .target(name: "Tar", dependencies: ["Core"]),
        // OCI and Docker image types, media types, platforms.
        .target(name: "OCI", dependencies: ["Core", "Compression"]),
        // Applies a layer's tar stream to a directory (plain or overlay upper), never outside it.
        .target(name: "LayerApplier", dependencies: ["POSIX", "Core", "Compression", "Tar"]),
        // One pass over an archive: hashes, decompresses and checks every image in it.
        .target(name: "Verification", dependencies: ["Core", "Compression", "Tar", "OCI"]),
        // The atomic import: verify while spooling, then content, snapshots and records through containerd.
        .target(
            name: "Import",
            dependencies: [
                "ContainerdAPI", "Verification", "LayerApplier", "OCI", "Tar", "Core", "POSIX",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
            ]
        ),
        // The CLI's commands, in a library so tests can drive them.
        .target(
            name: "Commands",
            dependencies: [
                "Verification", "LayerApplier", "Import", "OCI", "Core", "ContainerdAPI", "POSIX", "Tar", "Compression",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
            ]
        ),
        .executableTarget(name: "kind-node-import", dependencies: ["Commands"]),
        // containerd 1.6's gRPC API: code generated from Protos/ by scripts/generate-protos, and a
        // client connection over containerd's unix socket.
        .target(
            name: "ContainerdAPI",
            dependencies: [
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
            ]
        ),

        // Helpers for tests: temp dirs, running tools, locating fixtures and the built binary.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "POSIXTests", dependencies: ["POSIX", "TestSupport"]),
        .testTarget(name: "TarTests", dependencies: ["Tar", "Core", "TestSupport"]),
        .testTarget(name: "CompressionTests", dependencies: ["Compression", "Core", "Tar", "TestSupport"]),
        .testTarget(name: "OCITests", dependencies: ["OCI", "Core", "Compression"]),
        .testTarget(name: "CoreTests", dependencies: ["Core"]),
        .testTarget(name: "VerificationTests", dependencies: ["Verification", "OCI", "Core", "TestSupport"]),
        .testTarget(
            name: "LayerApplierTests", dependencies: ["LayerApplier", "Verification", "OCI", "Tar", "Core", "TestSupport"]),
        .testTarget(name: "CLITests", dependencies: ["Core", "TestSupport"]),
        .testTarget(
            name: "CommandsTests",
            dependencies: [
                "Commands", "Import", "LayerApplier", "POSIX", "Tar", "Core", .product(name: "GRPCCore", package: "grpc-swift-2"),
            ]),
        .testTarget(
            name: "ImportTests",
            dependencies: ["Import", "ContainerdAPI", "Verification", "OCI", "LayerApplier", "Core", "Compression", "TestSupport"]),
        .testTarget(
            name: "ContainerdAPITests",
            dependencies: [
                "ContainerdAPI", "Core", "TestSupport",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
    ] + isalTargets
)
