// swift-tools-version: 6.0
// GIGTrace: mechanistic concept tracing in CNNs with Generalized Integrated Gradients.
//
// Modules and what each imports (a DAG; README's "Architecture" section draws it):
//
//   Core ─┬─ ImageIO ── Datasets ─┐
//         └─ CNN ── PFV ──────────┼── GIGTrace ── CommandLineSupport ─┬─ CLI    (gigtrace)
//         └─ Concepts ────────────┘                                   └─ Bench  (gigtrace-bench)
//
// Every module imports what it uses by name; nothing is re-exported.
import PackageDescription

let package = Package(
    name: "GIGTrace",
    products: [
        .executable(name: "gigtrace", targets: ["CLI"]),
        .executable(name: "gigtrace-bench", targets: ["Bench"]),
        .library(name: "GIGTraceKit", targets: ["Core", "ImageIO", "Datasets", "CNN", "PFV", "Concepts", "GIGTrace"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
    ],
    targets: [
        // C libraries from Debian, reached through module maps.
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS",
                       providers: [.apt(["libopenblas-dev", "liblapacke-dev"])]),
        .systemLibrary(name: "CImageCodecs", path: "Sources/CImageCodecs",
                       providers: [.apt(["libjpeg62-turbo-dev", "libspng-dev"])]),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", providers: [.apt(["zlib1g-dev"])]),
        // glibc's mallopt, for the executables' start-up only (libraries set no process-wide state).
        .systemLibrary(name: "CMalloc", path: "Sources/CMalloc"),
        // libjpeg decoding behind a setjmp/longjmp error manager (libjpeg's default one calls exit()).
        .target(name: "CJpegDecoder", linkerSettings: [.linkedLibrary("jpeg")]),

        // Tensors, errors, atomic files, the RNG, OpenBLAS's thread count, SHA-256, .npy files.
        .target(name: "Core", dependencies: ["COpenBLAS"]),
        // JPEG/PNG decoding and PNG encoding.
        .target(name: "ImageIO", dependencies: ["Core", "CImageCodecs", "CJpegDecoder"]),
        // Dataset formats (image folders, IDX, CIFAR, .npy), torchvision-exact preprocessing, streaming.
        .target(name: "Datasets", dependencies: ["Core", "ImageIO", "CZlib"]),
        // Winograd tile transforms in C: one build per x86-64 vector width, picked per call from the CPU's features.
        .target(name: "CWinograd"),
        // The engine: ONNX reading, the graph, forward/VJP/JVP, kernels.
        .target(name: "CNN", dependencies: ["Core", "COpenBLAS", "CWinograd"]),
        // Pointwise feature vectors, sampling, receptive fields (SRD iERF).
        .target(name: "PFV", dependencies: ["Core", "ImageIO", "CNN", "COpenBLAS"]),
        // Concept banks: k-means, NMF, PCA, sparse coding.
        .target(name: "Concepts", dependencies: ["Core", "COpenBLAS"]),
        // GIG between concepts, the trace pipeline and store, the concept graph, reports, exports.
        .target(
            name: "GIGTrace",
            dependencies: ["Core", "ImageIO", "Datasets", "CNN", "PFV", "Concepts", "COpenBLAS",
                           .product(name: "GRDB", package: "GRDB.swift")]
        ),
        // What both executables share: option groups, progress on stderr, error reporting.
        .target(
            name: "CommandLineSupport",
            dependencies: ["CMalloc", "Core", "Datasets", "CNN", "PFV", "Concepts", "GIGTrace",
                           .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .executableTarget(
            name: "CLI",
            dependencies: ["Core", "ImageIO", "Datasets", "CNN", "PFV", "Concepts", "GIGTrace", "CommandLineSupport",
                           .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // Benchmark helpers (BENCHMARKS.md): kept out of the product's command line.
        .executableTarget(
            name: "Bench",
            dependencies: ["Core", "Datasets", "CNN", "PFV", "Concepts", "GIGTrace", "CommandLineSupport", "COpenBLAS",
                           .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),

        // Helpers shared by the test targets: temporary folders, the repository root, Python checks.
        .target(name: "TestSupport", dependencies: ["Core"], path: "Tests/TestSupport"),
        .testTarget(name: "CNNTests", dependencies: ["Core", "ImageIO", "Datasets", "CNN", "TestSupport", "CZlib", "CWinograd"]),
        .testTarget(name: "PFVTests", dependencies: ["Core", "ImageIO", "CNN", "PFV", "TestSupport", "CImageCodecs"]),
        .testTarget(name: "ConceptsTests", dependencies: ["Core", "Concepts", "TestSupport"]),
        .testTarget(name: "GIGTraceTests", dependencies: ["Core", "Datasets", "CNN", "PFV", "Concepts", "GIGTrace", "TestSupport",
                                                          .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "CLITests", dependencies: ["CLI", "Core", "ImageIO", "Datasets", "CNN", "PFV", "Concepts", "GIGTrace",
                                                     "CommandLineSupport", "TestSupport", "CZlib", "CImageCodecs",
                                                     .product(name: "ArgumentParser", package: "swift-argument-parser")]),
    ],
    swiftLanguageModes: [.v6]
)
