import Foundation
import Testing
import TestSupport
@testable import CNN
@testable import Core

/// The engine against PyTorch on the networks of tools/make_modern_fixtures.py: a ConvNeXt-style
/// net (Transpose, LayerNormalization — or its ReduceMean/Sub/Pow/Sqrt/Div decomposition —
/// Erf-GELU, N-D MatMul, layer scale) and an EfficientNet/MobileNetV3-style net (SiLU, Hardswish,
/// squeeze-excitation gates), each exported by both torch exporters. Logits, a block output and
/// target-logit gradients w.r.t. the input and the block are PyTorch's, to 1e-4; forward mode is
/// checked against PyTorch's input gradient through ⟨∇, d⟩ along d = ∇.
@Suite struct ModernFixtureTests {
    static let cases: [(String, String, String)] = [
        ("convnext", "legacy17.onnx", "/block1/Add_output_0"),
        ("convnext", "legacy14.onnx", "/block1/Add_output_0"),
        ("convnext", "dynamo.onnx", "add"),
        ("se_net", "legacy.onnx", "/block1/Add_output_0"),
        ("se_net", "dynamo.onnx", "add"),
    ]

    static func npy(_ dir: String, _ name: String) throws -> Tensor {
        try Npy.read(path: TestPaths.fixture(dir) + "/" + name).floatTensor(path: name)
    }

    static func close(_ a: Tensor, _ b: Tensor, _ tol: Float) -> Bool {
        a.shape == b.shape && zip(a.data, b.data).allSatisfy { abs($0 - $1) <= tol * (1 + abs($1)) }
    }

    static func maxError(_ a: Tensor, _ b: Tensor) -> Float {
        zip(a.data, b.data).map { abs($0 - $1) / (1 + abs($1)) }.max() ?? 0
    }

    @Test(arguments: 0..<cases.count)
    func matchesPyTorch(_ index: Int) throws {
        let (dir, file, block) = ModernFixtureTests.cases[index]
        let model = try Model.load(path: TestPaths.fixture(dir) + "/" + file)
        let x = try ModernFixtureTests.npy(dir, "inputs.npy")
        let targets = try Npy.read(path: TestPaths.fixture(dir) + "/targets.npy").integers(path: "targets.npy")
        let out = try model.forward(x, keep: [block])
        let logits = try #require(out[model.outputNames[0]])
        let refLogits = try ModernFixtureTests.npy(dir, "logits.npy")
        #expect(ModernFixtureTests.close(logits, refLogits, 1e-4), "\(file) logits: \(ModernFixtureTests.maxError(logits, refLogits))")
        let b = try #require(out[block]), refBlock = try ModernFixtureTests.npy(dir, "block.npy")
        #expect(ModernFixtureTests.close(b, refBlock, 1e-4), "\(file) block: \(ModernFixtureTests.maxError(b, refBlock))")
        let gx = try model.gradient(x, classes: targets), refGx = try ModernFixtureTests.npy(dir, "input_grad.npy")
        #expect(ModernFixtureTests.close(gx, refGx, 1e-4), "\(file) input grad: \(ModernFixtureTests.maxError(gx, refGx))")
        let gb = try model.gradient(x, classes: targets, wrt: block), refGb = try ModernFixtureTests.npy(dir, "block_grad.npy")
        #expect(ModernFixtureTests.close(gb, refGb, 1e-4), "\(file) block grad: \(ModernFixtureTests.maxError(gb, refGb))")
        #expect(model.suggestedTraceLayers.contains(block))

        // Forward mode: the target logit's tangent along d = PyTorch's gradient is ‖∇‖².
        let sub = try model.subnetwork(from: model.inputNames[0], to: model.outputNames[0])
        let tape = try sub.forward(x)
        let jv = try #require(try sub.jvp(tape, tangents: refGx)[model.outputNames[0]])
        let classes = logits.shape[1], per = refGx.count / x.shape[0]
        for (i, t) in targets.enumerated() {
            let expected = refGx.data[(i * per)..<((i + 1) * per)].reduce(0) { $0 + $1 * $1 }
            let got = jv.data[i * classes + t]
            #expect(abs(got - expected) <= 1e-4 * (1 + abs(expected)), "\(file) JVP sample \(i): \(got) vs \(expected)")
        }
    }
}
