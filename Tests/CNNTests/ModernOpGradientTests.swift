import Testing
@testable import CNN
@testable import Core

/// VJPs (`GradientTests.check`) and JVPs (`TangentTests.check`) of the transformer-era CNN ops
/// against central finite differences, T = 2 batched (co)tangents per sample.
@Suite struct ModernOpGradientTests {
    /// Both checks on one single-node graph.
    static func both(_ op: String, _ attrs: [String: AttributeValue] = [:], extra: [String] = [],
                     setup: (inout GraphFixture) -> Void = { _ in }, shape: [Int] = [3, 5, 5],
                     lo: Float = -1, hi: Float = 1) throws {
        let (model, input) = GradientTests.singleOp(op, attrs, extra: extra, setup: setup, shape: shape, lo: lo, hi: hi)
        try GradientTests.check(model, input: input)
        try TangentTests.check(model, input: input)
    }

    /// A node with several outputs of which `y` (output `index`) is the graph output.
    static func multiOutput(_ op: String, _ attrs: [String: AttributeValue], extra: [String], outputs: Int, index: Int,
                            setup: (inout GraphFixture) -> Void, shape: [Int] = [3, 5, 5]) throws {
        var g = GraphFixture()
        setup(&g)
        let names = (0..<outputs).map { $0 == index ? "y" : "unused\($0)" }
        g.nodes.append(OnnxNode(name: "multi", opType: op, domain: "", inputs: ["x"] + extra, outputs: names, attributes: attrs))
        var rng = SeededRandom(5)
        let model = g.model(input: shape, outputs: ["y"]), input = rng.tensor([2] + shape)
        try GradientTests.check(model, input: input)
        try TangentTests.check(model, input: input)
    }

    @Test func pointwise() throws {
        try ModernOpGradientTests.both("Erf", lo: -2, hi: 2)
        try ModernOpGradientTests.both("Gelu", lo: -3, hi: 3)
        try ModernOpGradientTests.both("Gelu", ["approximate": .string("tanh")], lo: -3, hi: 3)
        try ModernOpGradientTests.both("Sqrt", lo: 0.5, hi: 2)
    }

    @Test func powerWithConstantExponent() throws {
        try ModernOpGradientTests.both("Pow", extra: ["e"], setup: { $0.initializers["e"] = .float(Tensor(scalar: 2)) })
        try ModernOpGradientTests.both("Pow", extra: ["e"], setup: { $0.weight("e", [5], 0.5, 3) }, lo: 0.5, hi: 2)
    }

    @Test func transpose() throws {
        try ModernOpGradientTests.both("Transpose", ["perm": .ints([0, 2, 3, 1])], shape: [3, 4, 5])
        try ModernOpGradientTests.both("Transpose", ["perm": .ints([0, 3, 1, 2])], shape: [3, 4, 5])
    }

    @Test func layerNormalization() throws {
        try ModernOpGradientTests.both("LayerNormalization", ["epsilon": .float(1e-5)], extra: ["s", "b"],
                                       setup: { $0.weight("s", [5], 0.5, 1.5); $0.weight("b", [5]) })
        try ModernOpGradientTests.both("LayerNormalization", ["axis": .int(1)], extra: ["s"],
                                       setup: { $0.weight("s", [3, 1, 5], 0.5, 1.5) })
    }

    @Test func layerNormalizationStatistics() throws {
        for index in [1, 2] {
            try ModernOpGradientTests.multiOutput("LayerNormalization", ["axis": .int(2)], extra: ["s"], outputs: 3, index: index,
                                                  setup: { $0.weight("s", [5, 5]) })
        }
    }

    @Test func sliceSplitAndPad() throws {
        try ModernOpGradientTests.both("Slice", extra: ["st", "en", "ax", "sp"], setup: {
            $0.ints("st", [1, 0, 4]); $0.ints("en", [3, -1, 0]); $0.ints("ax", [1, 2, 3]); $0.ints("sp", [1, 2, -2])
        })
        try ModernOpGradientTests.multiOutput("Split", ["axis": .int(1)], extra: ["sizes"], outputs: 2, index: 1,
                                              setup: { $0.ints("sizes", [1, 2]) })
        for mode in ["constant", "edge", "reflect"] {
            try ModernOpGradientTests.both("Pad", ["mode": .string(mode)], extra: ["p", "v"], setup: {
                $0.ints("p", [0, 1, 2, -1, 0, 0, 1, 2]); $0.initializers["v"] = .float(Tensor(scalar: 0.5))
            })
        }
    }

    /// ConvNeXt's Linear layers: a 4-D activation times a constant 2-D weight, plus a bias.
    @Test func matMulOnChannelsLast() throws {
        var g = GraphFixture()
        g.weight("w", [5, 4])
        g.weight("c", [4])
        g.node("Transpose", ["x"], "t", ["perm": .ints([0, 2, 3, 1])])
        g.node("MatMul", ["t", "w"], "m")
        g.node("Add", ["m", "c"], "y")
        var rng = SeededRandom(9)
        let model = g.model(input: [5, 3, 4], outputs: ["y"]), input = rng.tensor([2, 5, 3, 4])
        try GradientTests.check(model, input: input)
        try TangentTests.check(model, input: input)
    }
}

/// N-D MatMul of two computed operands (attention-like `xᵀx` per channel, broadcast batch axes).
@Suite struct MatMulNDGradientTests {
    @Test func productOfTwoComputedTensors() throws {
        var g = GraphFixture()
        g.node("Transpose", ["x"], "t", ["perm": .ints([0, 1, 3, 2])])
        g.node("MatMul", ["t", "x"], "y")
        var rng = SeededRandom(11)
        let model = g.model(input: [3, 4, 5], outputs: ["y"]), input = rng.tensor([2, 3, 4, 5])
        try GradientTests.check(model, input: input)
        try TangentTests.check(model, input: input)
    }

    @Test func broadcastConstantLeftOperand() throws {
        var g = GraphFixture()
        g.weight("w", [1, 2, 3])
        g.node("MatMul", ["w", "x"], "y")
        var rng = SeededRandom(12)
        let model = g.model(input: [3, 3, 4], outputs: ["y"]), input = rng.tensor([2, 3, 3, 4])
        try GradientTests.check(model, input: input)
        try TangentTests.check(model, input: input)
    }
}
