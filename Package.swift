// swift-tools-version: 6.0
// GIGTrace: mechanistic concept tracing in CNNs with Generalized Integrated Gradients.
// Dependencies point one way: CLI → GIGTrace → Concepts → PFV → CNN.
import PackageDescription

let package = Package(
    name: "GIGTrace",
    products: [
        .executable(name: "gigtrace", targets: ["CLI"]),
        .library(name: "GIGTraceKit", targets: ["CNN", "PFV", "Concepts", "GIGTrace"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
    ],
    targets: [
        // C libraries from Debian, reached through module maps.
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS"),
        .systemLibrary(name: "CImageCodecs", path: "Sources/CImageCodecs"),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),
        // libjpeg decoding behind a setjmp/longjmp error manager (libjpeg's default one calls exit()).
        .target(name: "CJpegDecoder", linkerSettings: [.linkedLibrary("jpeg")]),

        // The engine's kernels (Winograd's SIMD transforms, im2col, elementwise loops) are optimised
        // in debug builds too: unoptimised they make the test suite ~10× slower, and nothing in them
        // is worth stepping through at -Onone.
        .target(name: "CNN", dependencies: ["COpenBLAS", "CImageCodecs", "CZlib", "CJpegDecoder"],
                swiftSettings: [.unsafeFlags(["-O"], .when(configuration: .debug))]),
        .target(name: "PFV", dependencies: ["CNN"]),
        .target(name: "Concepts", dependencies: ["PFV", "COpenBLAS"]),
        .target(
            name: "GIGTrace",
            dependencies: ["Concepts", "COpenBLAS", .product(name: "GRDB", package: "GRDB.swift")]
        ),
        .executableTarget(
            name: "CLI",
            dependencies: [
                "GIGTrace",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        .testTarget(name: "CNNTests", dependencies: ["CNN", "CZlib", "CImageCodecs"]),
        .testTarget(name: "PFVTests", dependencies: ["PFV"]),
        .testTarget(name: "GIGTraceTests", dependencies: ["GIGTrace"]),
        .testTarget(name: "CLITests", dependencies: ["CLI", "CZlib", "CImageCodecs"]),
        .testTarget(name: "ConceptsTests", dependencies: ["Concepts"]),
    ],
    swiftLanguageModes: [.v6]
)
