import Testing
@testable import CNN
@testable import Core

/// Forward mode (`Subnetwork.jvp`) against central finite differences along each direction, and
/// against reverse mode through the adjoint identity ⟨c, J d⟩ = ⟨Jᵀc, d⟩.
///
/// Finite differences as in `GradientTests`: Float32, steps ε and ε/2, tolerance 3e-3 + 1e-2·|Jd|,
/// elements where the two steps disagree (a kink within ε) skipped, at most 3 % of them. The
/// adjoint identity involves no approximation, only rounding: 1e-4 relative.
@Suite struct TangentTests {
    static func check(_ onnx: OnnxModel, input: Tensor, from: String = "x", to: String = "y",
                      fold: Bool = true, directions d: Int = 2, eps: Float = 1e-2) throws {
        let model = try Model(onnx: onnx, foldBatchNorm: fold)
        let sub = try model.subnetwork(from: from, to: to)
        var start = input
        if from != "x" { start = try #require(try model.forward(input, keep: [from])[from]) }
        let tape = try sub.forward(start)
        let n = start.shape[0], perOut = tape.output.count / n, perIn = start.count / n
        var rng = SeededRandom(41)
        let tangents = rng.tensor([n * d] + Array(start.shape.dropFirst()))
        let jv = try #require(try sub.jvp(tape, tangents: tangents)[to])
        #expect(jv.shape == [n * d] + Array(tape.output.shape.dropFirst()))

        var checked = 0, skipped = 0, bad = [String]()
        for r in 0..<(n * d) {
            let s = r / d
            func fd(_ eps: Float) throws -> [Float] {
                var p = start, m = start
                for j in 0..<perIn {
                    p.data[s * perIn + j] += eps * tangents.data[r * perIn + j]
                    m.data[s * perIn + j] -= eps * tangents.data[r * perIn + j]
                }
                let yp = try sub.forward(p).output, ym = try sub.forward(m).output
                return (0..<perOut).map { (yp.data[s * perOut + $0] - ym.data[s * perOut + $0]) / (2 * eps) }
            }
            let f1 = try fd(eps), f2 = try fd(eps / 2)
            for j in 0..<perOut {
                let g = jv.data[r * perOut + j], tol = 3e-3 + 1e-2 * abs(g)
                checked += 1
                if abs(f1[j] - f2[j]) > tol { skipped += 1; continue }
                if abs(f2[j] - g) > tol { bad.append("direction \(r) output \(j): fd \(f2[j]) vs \(g)") }
            }
        }
        #expect(bad.isEmpty, "\(bad.count) mismatches, first: \(bad.prefix(3))")
        #expect(skipped * 100 <= checked * 3, "\(skipped) of \(checked) elements near a kink")

        let cot = rng.tensor([n * d] + Array(tape.output.shape.dropFirst()))
        let vjp = try sub.backward(tape, cotangent: cot)
        var lhs = 0.0, rhs = 0.0, scale = 0.0
        for i in 0..<cot.count { lhs += Double(cot.data[i]) * Double(jv.data[i]); scale += abs(Double(cot.data[i]) * Double(jv.data[i])) }
        for i in 0..<tangents.count { rhs += Double(vjp.data[i]) * Double(tangents.data[i]) }
        #expect(abs(lhs - rhs) <= 1e-4 * max(scale, 1e-6), "⟨c, Jd⟩ = \(lhs), ⟨Jᵀc, d⟩ = \(rhs)")
    }

    static func single(_ op: String, _ attrs: [String: AttributeValue] = [:], extra: [String] = [],
                       setup: (inout GraphFixture) -> Void = { _ in }, shape: [Int] = [3, 5, 5],
                       lo: Float = -1, hi: Float = 1) throws {
        let (model, input) = GradientTests.singleOp(op, attrs, extra: extra, setup: setup, shape: shape, lo: lo, hi: hi)
        try check(model, input: input)
    }

    @Test func convolutions() throws {
        try TangentTests.single("Conv", ["pads": .ints([1, 0, 2, 1]), "strides": .ints([2, 1]),
                                         "dilations": .ints([1, 2]), "group": .int(2)],
                                extra: ["w", "b"], setup: { $0.weight("w", [4, 2, 3, 3]); $0.weight("b", [4]) }, shape: [4, 6, 7])
        try TangentTests.single("Conv", ["auto_pad": .string("SAME_UPPER"), "group": .int(3)],
                                extra: ["w"], setup: { $0.weight("w", [3, 1, 3, 3]) })
    }

    @Test func elementwiseAndPooling() throws {
        for op in ["Relu", "Sigmoid", "HardSigmoid", "HardSwish", "Identity"] { try TangentTests.single(op, lo: -3, hi: 3) }
        try TangentTests.single("LeakyRelu", ["alpha": .float(0.1)])
        try TangentTests.single("Clip", extra: ["lo", "hi"], setup: {
            $0.initializers["lo"] = .float(Tensor(scalar: -0.5)); $0.initializers["hi"] = .float(Tensor(scalar: 0.6))
        })
        try TangentTests.single("AveragePool", ["kernel_shape": .ints([3, 2]), "strides": .ints([2, 2]),
                                                "pads": .ints([1, 0, 1, 1]), "count_include_pad": .int(0)])
        try TangentTests.single("GlobalAveragePool")
        try TangentTests.single("ReduceMean", ["axes": .ints([1, -1]), "keepdims": .int(0)])
        try TangentTests.single("Softmax", ["axis": .int(1)], lo: -2, hi: 2)
        try TangentTests.single("Reshape", extra: ["s"], setup: { $0.ints("s", [0, 5, -1]) })
    }

    @Test func maxPoolWithoutNearTies() throws {
        let (model, x) = GradientTests.maxPoolWithoutNearTies()
        try TangentTests.check(model, input: x, eps: 1e-3)
    }

    /// Both operands computed from x (product and quotient rules), a constant operand, Concat.
    @Test func binaryOpsAndConcat() throws {
        for op in ["Add", "Sub", "Mul", "Div"] {
            var g = GraphFixture()
            GradientTests.addSigmoidMeanPlusOne(&g)
            g.node(op, ["x", "d"], "q")
            g.weight("c", [1, 3, 4, 4])
            g.node(op, ["c", "d"], "k")
            g.node("Concat", ["q", "k"], "y", ["axis": .int(1)])
            var rng = SeededRandom(5)
            try TangentTests.check(g.model(input: [3, 4, 4], outputs: ["y"]), input: rng.tensor([2, 3, 4, 4]))
        }
    }

    @Test func gemmAndMatMul() throws {
        let (model, x) = GradientTests.gemmAndMatMulNet()
        try TangentTests.check(model, input: x)
    }

    @Test func residualNetworkWholeAndFromInside() throws {
        var rng = SeededRandom(12)
        let x = rng.tensor([2, 3, 6, 6])
        // ε = 5e-4: a whole direction crosses the composite's ReLU/MaxPool kinks more easily than
        // one input element does; rounding error stays ≲ 2e-4.
        try TangentTests.check(GradientTests.residualNet(), input: x, fold: true, eps: 5e-4)
        try TangentTests.check(GradientTests.residualNet(), input: x, fold: false, eps: 5e-4)
        try TangentTests.check(GradientTests.residualNet(), input: x, from: "s", to: "y", eps: 5e-4)
    }

    /// Several tensors from one sweep, and the batch split over two threads gives the same tangents.
    @Test func collectsInnerTensorsAndSplitsTheBatch() throws {
        var rng = SeededRandom(14)
        let x = rng.tensor([4, 3, 6, 6])
        var model = try Model(onnx: GradientTests.residualNet())
        let sub = try model.subnetwork(from: "x", to: "logits")
        let tangents = rng.tensor([12, 3, 6, 6])
        let serial = try sub.jvp(try sub.forward(x), tangents: tangents, collecting: ["block"])
        let inner = try model.subnetwork(from: "x", to: "block")
        let direct = try inner.jvp(try inner.forward(x), tangents: tangents)
        #expect(serial["block"]?.shape == [12, 3, 6, 6])
        #expect(serial["block"]?.data == direct["block"]?.data)
        model.threads = 2
        let split = try model.subnetwork(from: "x", to: "logits")
        let parallel = try split.jvp(try split.forward(x), tangents: tangents, collecting: ["block"])
        for name in ["logits", "block"] {
            let a = try #require(serial[name]), b = try #require(parallel[name])
            #expect(a.shape == b.shape)
            let worst = zip(a.data, b.data).map { abs($0 - $1) }.max() ?? 0
            #expect(worst <= 1e-5 * max(1, a.data.map(abs).max() ?? 0))
        }
        #expect(throws: ModelError.self) { try sub.jvp(try sub.forward(x), tangents: rng.tensor([5, 3, 6, 6])) }
        #expect(throws: ModelError.self) { try sub.jvp(try sub.forward(x), tangents: tangents, collecting: ["nope"]) }
    }
}
