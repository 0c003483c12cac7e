import ArgumentParser
import Core
import Foundation
import Testing
@testable import CLI

/// The hidden `generalized-ig` command end to end: attributions of a scikit-learn
/// GradientBoosting model equal the Python reference of tools/make_tree_fixtures.py.
@Suite struct GeneralizedIGCommandTests {
    static let trees = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/trees").path

    @Test func attributionsEqualTheReference() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gig-cli-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        struct Reference: Decodable {
            struct Target: Decodable { let attributions: [[Double]] }
            let baseline: [Float]
            let targets: [Target]
        }
        let ref = try JSONDecoder().decode(Reference.self, from: Data(contentsOf: URL(fileURLWithPath: Self.trees + "/gb_multi_gig.json")))
        try Npy.write(Tensor(uncheckedShape: [1, 4], data: ref.baseline), to: dir + "/baseline.npy")
        try GeneralizedIGCommand.parse(["--model", Self.trees + "/gb_multi.onnx", "--input", Self.trees + "/gb_multi_inputs.npy",
                                        "--baseline", dir + "/baseline.npy", "--target", "2", "--out", dir + "/a.npy", "--quiet"]).execute()
        let a = try Npy.read(path: dir + "/a.npy").floatTensor(path: "a.npy")
        #expect(a.shape == [10, 4])
        let expected = ref.targets[2].attributions.flatMap { $0 }
        let worst = zip(a.data, expected).map { abs(Double($0) - $1) }.max() ?? 1
        #expect(worst < 1e-6, "largest difference \(worst)")
    }

    @Test func badOptionsAreRejected() throws {
        #expect(throws: (any Error).self) {
            try GeneralizedIGCommand.parse(["--model", Self.trees + "/gb_multi.onnx", "--input", Self.trees + "/gb_multi_inputs.npy",
                                            "--n-steps", "0", "--out", "/tmp/x.npy"])
        }
        #expect(throws: InputError.self) {
            try GeneralizedIGCommand.parse(["--model", Self.trees + "/gb_multi.onnx", "--input", Self.trees + "/gb_multi_inputs.npy",
                                            "--out", "/nonexistent-folder/x.npy"]).execute()
        }
    }
}
