import Foundation

/// Where the tests find things: the repository, its committed fixtures and models, and the data
/// sets Debian packages install (`.ci/run` installs them).
public enum TestPaths {
    /// The repository root (this file is `Tests/TestSupport/Paths.swift`).
    public static let repository: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `Tests/Fixtures/NAME`.
    public static func fixture(_ name: String) -> String {
        repository.appendingPathComponent("Tests/Fixtures").appendingPathComponent(name).path
    }

    /// The demo model, `models/fashion-resnet/model.onnx`.
    public static let demoModel = repository.appendingPathComponent("models/fashion-resnet/model.onnx").path

    /// Fashion-MNIST's test images (Debian's `dataset-fashion-mnist`).
    public static let fashionMNISTTestImages = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"

    /// The libonnx-testdata node-test folder (Debian's `libonnx-testdata`).
    public static let onnxNodeTests = "/usr/share/libonnx-testdata/data/node"
}

/// A fresh temporary folder for one test; the caller removes it (or leaves it to the OS).
///
///     let dir = try makeTemporaryFolder("trace-run")
public func makeTemporaryFolder(_ label: String) throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("\(label)-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// ‖a − b‖₂ / ‖b‖₂ (0 when both are zero): the relative error of `a` against the reference `b`.
public func relativeError<A: Collection, B: Collection>(_ a: A, _ b: B) -> Float
where A.Element == Float, B.Element == Float {
    precondition(a.count == b.count, "relativeError: \(a.count) vs \(b.count) values")
    var diff: Double = 0, norm: Double = 0
    for (x, y) in zip(a, b) {
        diff += Double(x - y) * Double(x - y)
        norm += Double(y) * Double(y)
    }
    if norm == 0 { return diff == 0 ? 0 : .infinity }
    return Float((diff / norm).squareRoot())
}
