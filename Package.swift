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
    ],
    targets: [
        // C libraries from Debian, reached through module maps.
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS"),
        .systemLibrary(name: "CImageCodecs", path: "Sources/CImageCodecs"),

        .target(name: "CNN", dependencies: ["COpenBLAS", "CImageCodecs"]),
        .target(name: "PFV", dependencies: ["CNN"]),
        .target(name: "Concepts", dependencies: ["PFV", "COpenBLAS"]),
        .target(name: "GIGTrace", dependencies: ["Concepts", "COpenBLAS"]),
        .executableTarget(
            name: "CLI",
            dependencies: [
                "GIGTrace",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        .testTarget(name: "CNNTests", dependencies: ["CNN"]),
        .testTarget(name: "PFVTests", dependencies: ["PFV"]),
        .testTarget(name: "GIGTraceTests", dependencies: ["GIGTrace"]),
    ],
    swiftLanguageModes: [.v6]
)
