import Foundation
import Testing
@testable import CNN
@testable import Core

/// The engine against PyTorch on the small ResNet of tools/make_fixtures.py: three ONNX exports
/// (legacy with BN folded, legacy with BN kept, dynamo opset 18), logits, a block output and
/// target-logit gradients w.r.t. the input and the block, all computed by PyTorch.
@Suite struct PyTorchFixtureTests {
    static let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/small_resnet").path
    static let blocks = ["legacy_folded.onnx": "/block1/relu_1/Relu_output_0",
                         "legacy_bn.onnx": "/block1/relu_1/Relu_output_0", "dynamo.onnx": "relu_2"]

    static func npy(_ name: String) throws -> Tensor {
        try Npy.read(path: dir + "/" + name).floatTensor(path: name)
    }

    static func close(_ a: Tensor, _ b: Tensor, _ tol: Float) -> Bool {
        a.shape == b.shape && zip(a.data, b.data).allSatisfy { abs($0 - $1) <= tol * (1 + abs($1)) }
    }

    @Test(arguments: ["legacy_folded.onnx", "legacy_bn.onnx", "dynamo.onnx"])
    func matchesPyTorch(_ file: String) throws {
        let model = try Model.load(path: PyTorchFixtureTests.dir + "/" + file)
        let block = try #require(PyTorchFixtureTests.blocks[file])
        let x = try PyTorchFixtureTests.npy("inputs.npy")
        let targets = try Npy.read(path: PyTorchFixtureTests.dir + "/targets.npy").integers(path: "targets.npy")
        let out = try model.forward(x, keep: [block])
        let logits = try #require(out[model.outputNames[0]])
        #expect(PyTorchFixtureTests.close(logits, try PyTorchFixtureTests.npy("logits.npy"), 1e-4))
        #expect(PyTorchFixtureTests.close(try #require(out[block]), try PyTorchFixtureTests.npy("block.npy"), 1e-4))
        let gx = try model.gradient(x, classes: targets)
        #expect(PyTorchFixtureTests.close(gx, try PyTorchFixtureTests.npy("input_grad.npy"), 1e-4))
        let gb = try model.gradient(x, classes: targets, wrt: block)
        #expect(PyTorchFixtureTests.close(gb, try PyTorchFixtureTests.npy("block_grad.npy"), 1e-4))
        #expect(model.suggestedTraceLayers.contains(block))
        #expect(model.opCounts["BatchNormalization"] == nil)
        // Another batch size than the export's (dynamo bakes 4 into its Reshape).
        let two = try model.forward(x.slice(batch: 1..<3))
        let l2 = try #require(two[model.outputNames[0]])
        #expect(PyTorchFixtureTests.close(l2, logits.slice(batch: 1..<3), 1e-5))
    }
}
