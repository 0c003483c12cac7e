import Testing
@testable import CNN
@testable import Core

/// Graph building and execution: folding, shape inference, exporter patterns and bad input.
@Suite struct ModelTests {
    @Test func unknownOpIsNamed() throws {
        var g = GraphFixture()
        g.node("Relu", ["x"], "r")
        g.node("FancyOp", ["r"], "y")
        let onnx = g.model(input: [3, 4, 4], outputs: ["y"])
        #expect(throws: ModelError.unsupportedOp(op: "FancyOp", node: "n1_FancyOp")) { try Model(onnx: onnx) }
    }

    @Test func unknownTensorListsAvailableNames() throws {
        let model = try Model(onnx: GradientTests.residualNet())
        var rng = SeededRandom(1)
        let x = rng.tensor([1, 3, 6, 6])
        do {
            _ = try model.forward(x, keep: ["nope"])
            Issue.record("expected an error")
        } catch let e as ModelError {
            guard case .unknownTensor(let name, let available) = e else { Issue.record("wrong error \(e)"); return }
            #expect(name == "nope")
            #expect(available.contains("block") && available.contains("x"))
        }
        #expect(throws: ModelError.self) { try model.subnetwork(from: "x", to: "nope") }
    }

    @Test func wrongInputShapeIsRejected() throws {
        let model = try Model(onnx: GradientTests.residualNet())
        #expect(throws: ModelError.shapeMismatch("input 'x' expects [N, 3, 6, 6], got [2, 3, 5, 6]")) {
            try model.forward(Tensor(shape: [2, 3, 5, 6]))
        }
        #expect(throws: ModelError.self) { try model.gradient(Tensor(shape: [1, 3, 6, 6]), classes: [9]) }
        #expect(throws: ModelError.self) { try model.forward(Tensor(shape: [0, 3, 6, 6])) }
        #expect(throws: ModelError.self) { try model.subnetwork(from: "x", to: "y").forward(Tensor(shape: [0, 3, 6, 6])) }
    }

    @Test func shapesOpCountsAndTraceLayers() throws {
        let model = try Model(onnx: GradientTests.residualNet())
        #expect(model.inputShape == [3, 6, 6])
        #expect(model.tensorShapes["block"] == [3, 6, 6])
        #expect(model.tensorShapes["p"] == [3, 3, 3])
        #expect(model.tensorShapes["flat"] == [3])
        #expect(model.opCounts["Conv"] == 2)
        #expect(model.opCounts["BatchNormalization (folded)"] == 2)
        #expect(model.opCounts["BatchNormalization"] == nil)
        #expect(model.suggestedTraceLayers == ["block"])
        // Folded BN: the conv writes the BN's output name.
        #expect(model.nodes.contains { $0.output == "b1" && $0.op.kind == "Conv" && $0.foldedBatchNorm != nil })
    }

    @Test func foldedAndUnfoldedBatchNormAgree() throws {
        let a = try Model(onnx: GradientTests.residualNet(), foldBatchNorm: true)
        let b = try Model(onnx: GradientTests.residualNet(), foldBatchNorm: false)
        var rng = SeededRandom(2)
        let x = rng.tensor([3, 3, 6, 6])
        let ya = try #require(try a.forward(x, keep: ["block"])["block"])
        let yb = try #require(try b.forward(x, keep: ["block"])["block"])
        #expect(zip(ya.data, yb.data).allSatisfy { abs($0 - $1) <= 1e-5 })
        #expect(b.opCounts["BatchNormalization"] == 2)
        // Conv+Relu run fused unless the pre-activation is requested; then it is kept intact.
        let both = try a.forward(x, keep: ["b1", "r1"])
        let pre = try #require(both["b1"]), post = try #require(both["r1"])
        #expect(pre.data.contains { $0 < 0 })
        #expect(zip(pre.data, post.data).allSatisfy { max($0, 0) == $1 })
        let tape = try a.subnetwork(from: "x", to: "y").forward(x, keep: ["b1"])
        #expect(try #require(tape.kept["b1"]) == pre)
    }

    /// Legacy exporter flatten: Shape → Gather(0) → Unsqueeze → Concat(-1) → Reshape, folded at
    /// load with the batch size left symbolic; dynamo: ReduceMean(axes input) + Reshape([-1, C]).
    @Test func exporterFlattenPatternsRunAtAnyBatch() throws {
        var g = GraphFixture()
        g.node("Relu", ["x"], "r")
        g.node("GlobalAveragePool", ["r"], "gap")
        g.node("Shape", ["gap"], "shape")
        g.initializers["zero"] = .int(try IntTensor(shape: [], data: [0]))
        g.node("Gather", ["shape", "zero"], "batch", ["axis": .int(0)])
        g.ints("axes0", [0])
        g.node("Unsqueeze", ["batch", "axes0"], "batch1")
        g.node("Constant", [], "minus1", ["value": .tensor(.int(try IntTensor(shape: [1], data: [-1])))])
        g.node("Concat", ["batch1", "minus1"], "target", ["axis": .int(0)])
        g.node("Reshape", ["gap", "target"], "legacy")
        g.ints("hw", [-1, -2])
        g.node("ReduceMean", ["r", "hw"], "mean", ["keepdims": .int(0)])
        g.ints("t2", [-1, 3])
        g.node("Reshape", ["mean", "t2"], "dynamo")
        g.node("Identity", ["zero"], "alias")
        let model = try Model(onnx: g.model(input: [3, 4, 4], outputs: ["legacy", "dynamo"], opset: 18))
        #expect(model.opCounts["Reshape"] == 2)
        #expect(model.opCounts["Gather"] == nil)
        var rng = SeededRandom(4)
        let x = rng.tensor([5, 3, 4, 4])
        let out = try model.forward(x)
        let legacy = try #require(out["legacy"]), dynamo = try #require(out["dynamo"])
        #expect(legacy.shape == [5, 3] && dynamo.shape == [5, 3])
        // Reference computed directly: mean of relu over each 4×4 plane.
        for i in 0..<15 {
            let plane = x.data[(i * 16)..<((i + 1) * 16)]
            let ref = plane.map { max($0, 0) }.reduce(0, +) / 16
            #expect(abs(legacy.data[i] - ref) < 1e-5 && abs(dynamo.data[i] - ref) < 1e-5)
        }
    }

    @Test func gradientOfOneLogitPerImage() throws {
        let model = try Model(onnx: GradientTests.residualNet())
        var rng = SeededRandom(9)
        let x = rng.tensor([2, 3, 6, 6])
        let g = try model.gradient(x, classes: [1, 3], output: "logits")
        #expect(g.shape == [2, 3, 6, 6])
        let gb = try model.gradient(x, classes: [1, 3], wrt: "block", output: "logits")
        #expect(gb.shape == [2, 3, 6, 6])
        // Central difference of logit 3 of image 1 along one input element.
        var p = x, m = x
        let idx = 108 + 50
        p.data[idx] += 1e-2; m.data[idx] -= 1e-2
        let lp = try #require(try model.forward(p, keep: ["logits"])["logits"]).data[7]
        let lm = try #require(try model.forward(m, keep: ["logits"])["logits"]).data[7]
        #expect(abs((lp - lm) / 2e-2 - g.data[idx]) < 3e-3)
    }
}
