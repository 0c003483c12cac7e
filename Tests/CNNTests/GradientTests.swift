import Testing
@testable import CNN
@testable import Core

/// Every op's VJP (through `Subnetwork.backward`) against central finite differences.
///
/// Finite differences run in Float32 with step ε = 1e-2 (unless stated) and again with ε/2: Float32 rounding of
/// the O(1) outputs contributes ≲ 1e-5 / ε ≈ 1e-3 absolute error, truncation O(ε²) ≈ 1e-4, hence
/// the tolerance 3e-3 + 1e-2·|g|. Where the two steps disagree the input sits within ε of a kink
/// (ReLU at 0, a MaxPool tie, a clip bound) and the element is skipped; at most 3% may be skipped.
/// Cotangents come in T = 2 targets per sample, so the batched path is what is checked.
@Suite struct GradientTests {
    static func check(_ onnx: OnnxModel, input: Tensor, from: String = "x", to: String = "y",
                      fold: Bool = true, tile: Int = 2, eps: Float = 1e-2) throws {
        let model = try Model(onnx: onnx, foldBatchNorm: fold)
        let sub = try model.subnetwork(from: from, to: to)
        var start = input
        if from != "x" { start = try #require(try model.forward(input, keep: [from])[from]) }
        let tape = try sub.forward(start)
        let n = start.shape[0], perOut = tape.output.count / n, perIn = start.count / n
        var rng = SeededRandom(99)
        let cot = rng.tensor([n * tile] + Array(tape.output.shape.dropFirst()))
        let grad = try sub.backward(tape, cotangent: cot)
        #expect(grad.shape == [n * tile] + Array(start.shape.dropFirst()))
        func loss(_ x: Tensor, row r: Int) throws -> Float {
            let y = try sub.forward(x).output
            let s = r / tile
            var acc: Float = 0
            for j in 0..<perOut { acc += y.data[s * perOut + j] * cot.data[r * perOut + j] }
            return acc
        }
        var checked = 0, skipped = 0, bad = [String]()
        for r in 0..<(n * tile) {
            let s = r / tile
            for j in 0..<perIn {
                let idx = s * perIn + j
                func fd(_ eps: Float) throws -> Float {
                    var p = start, m = start
                    p.data[idx] += eps
                    m.data[idx] -= eps
                    return (try loss(p, row: r) - loss(m, row: r)) / (2 * eps)
                }
                let f1 = try fd(eps), f2 = try fd(eps / 2)
                let g = grad.data[r * perIn + j]
                let tol = 3e-3 + 1e-2 * abs(g)
                checked += 1
                if abs(f1 - f2) > tol { skipped += 1; continue }
                if abs(f2 - g) > tol { bad.append("row \(r) elem \(j): fd \(f2) vs \(g)") }
            }
        }
        #expect(bad.isEmpty, "\(bad.count) mismatches, first: \(bad.prefix(3))")
        #expect(skipped * 100 <= checked * 3, "\(skipped) of \(checked) elements near a kink")
    }

    static func single(_ op: String, _ attrs: [String: AttributeValue] = [:], extra: [String] = [],
                       setup: (inout GraphFixture) -> Void = { _ in }, shape: [Int] = [3, 5, 5],
                       lo: Float = -1, hi: Float = 1, opset: Int = 17) throws {
        let (model, input) = singleOp(op, attrs, extra: extra, setup: setup, shape: shape, lo: lo, hi: hi, opset: opset)
        try check(model, input: input)
    }

    /// One node `y = op(x, extra...)` and a batch of two random inputs (shared with `TangentTests`).
    static func singleOp(_ op: String, _ attrs: [String: AttributeValue], extra: [String], setup: (inout GraphFixture) -> Void,
                         shape: [Int], lo: Float, hi: Float, opset: Int = 17) -> (OnnxModel, Tensor) {
        var g = GraphFixture()
        setup(&g)
        g.node(op, ["x"] + extra, "y", attrs)
        var rng = SeededRandom(3)
        return (g.model(input: shape, outputs: ["y"], opset: opset), rng.tensor([2] + shape, lo, hi))
    }

    @Test func convWithPadsStridesDilationsGroups() throws {
        try GradientTests.single("Conv", ["pads": .ints([1, 0, 2, 1]), "strides": .ints([2, 1]),
                                          "dilations": .ints([1, 2]), "group": .int(2)],
                                 extra: ["w", "b"], setup: { $0.weight("w", [4, 2, 3, 3]); $0.weight("b", [4]) },
                                 shape: [4, 6, 7])
    }

    @Test func depthwiseConvSameUpper() throws {
        try GradientTests.single("Conv", ["auto_pad": .string("SAME_UPPER"), "strides": .ints([2, 2]), "group": .int(3)],
                                 extra: ["w"], setup: { $0.weight("w", [3, 1, 3, 3]) })
    }

    /// Stride 1: the input-VJP runs as the forward of the flipped, channel-transposed filter.
    @Test func stride1ConvWithAsymmetricPadsDilationsGroups() throws {
        try GradientTests.single("Conv", ["pads": .ints([1, 0, 2, 1]), "dilations": .ints([1, 2]), "group": .int(2)],
                                 extra: ["w", "b"], setup: { $0.weight("w", [4, 2, 3, 3]); $0.weight("b", [4]) },
                                 shape: [4, 6, 7])
    }

    @Test func stride1DepthwiseMultiplierSameLower() throws {
        try GradientTests.single("Conv", ["auto_pad": .string("SAME_LOWER"), "group": .int(3)],
                                 extra: ["w"], setup: { $0.weight("w", [6, 1, 2, 3]) }, shape: [3, 5, 6])
    }

    /// Pads wider than the kernel's reach (3 > 3 − 1) keep the col2im scatter; rows of 12 columns
    /// cover its eight-lane loop and the scalar tail.
    @Test func stride1ConvWithPadsBeyondTheKernel() throws {
        try GradientTests.single("Conv", ["pads": .ints([3, 1, 0, 2])],
                                 extra: ["w"], setup: { $0.weight("w", [3, 2, 3, 3]) }, shape: [2, 4, 11])
    }

    /// Stride 2 along rows of 11 outputs: col2im's eight-lane every-other-column loop and its tail.
    @Test func stride2ColumnsWideEnoughForTheVectorLoop() throws {
        try GradientTests.single("Conv", ["pads": .ints([1, 1, 1, 2]), "strides": .ints([1, 2])],
                                 extra: ["w"], setup: { $0.weight("w", [3, 2, 3, 3]) }, shape: [2, 3, 21])
    }

    /// Which convolutions take the transposed-forward input-VJP (the finite-difference checks
    /// above cover both paths; this pins down which path each of them took).
    @Test func inputVJPConvolutionOnlyForStride1WithinTheKernelsReach() {
        func conv(kernel k: Int, stride: Int, pads: [Int], dilation d: Int = 1) -> Conv2D {
            let window = Window2D(kernelH: k, kernelW: k, strideH: stride, strideW: stride, dilationH: d, dilationW: d,
                                  padTop: pads[0], padLeft: pads[1], padBottom: pads[2], padRight: pads[3],
                                  autoPad: .notSet, ceilMode: false)
            return Conv2D(weight: Tensor(uncheckedShape: [4, 2, k, k], data: [Float](repeating: 1, count: 8 * k * k)),
                          bias: nil, window: window, groups: 1)
        }
        #expect(conv(kernel: 3, stride: 2, pads: [1, 1, 1, 1]).inputVJP == nil)
        #expect(conv(kernel: 3, stride: 1, pads: [3, 1, 0, 2]).inputVJP == nil)
        #expect(conv(kernel: 1, stride: 1, pads: [1, 0, 0, 0]).inputVJP == nil)
        let t = conv(kernel: 3, stride: 1, pads: [1, 0, 2, 1], dilation: 2).inputVJP?.conv
        #expect(t?.weight.shape == [2, 4, 3, 3])
        #expect(t.map { [$0.window.padTop, $0.window.padLeft, $0.window.padBottom, $0.window.padRight] } == [3, 4, 2, 3])
    }

    @Test func pointwiseConv() throws {
        try GradientTests.single("Conv", [:], extra: ["w"], setup: { $0.weight("w", [5, 3, 1, 1]) })
    }

    @Test func batchNormalization() throws {
        try GradientTests.single("BatchNormalization", ["epsilon": .float(1e-3)], extra: ["s", "b", "m", "v"], setup: {
            $0.weight("s", [3]); $0.weight("b", [3]); $0.weight("m", [3]); $0.weight("v", [3], 0.5, 2)
        })
    }

    @Test func activations() throws {
        try GradientTests.single("Relu")
        try GradientTests.single("LeakyRelu", ["alpha": .float(0.1)])
        try GradientTests.single("Sigmoid", lo: -3, hi: 3)
        try GradientTests.single("HardSigmoid", ["alpha": .float(0.3), "beta": .float(0.4)], lo: -3, hi: 3)
        try GradientTests.single("HardSwish", lo: -4, hi: 4)
        try GradientTests.single("Clip", extra: ["lo", "hi"], setup: {
            $0.initializers["lo"] = .float(Tensor(scalar: 0)); $0.initializers["hi"] = .float(Tensor(scalar: 6))
        }, lo: -2, hi: 8)
    }

    @Test func broadcastArithmeticWithConstants() throws {
        for op in ["Add", "Sub", "Mul", "Div"] {
            try GradientTests.single(op, extra: ["c"], setup: { $0.weight("c", [3, 1, 5], 0.5, 2) })
        }
    }

    /// d = mean_hw(sigmoid(x)) + 1, `[N, C, 1, 1]`: an operand that depends on x, broadcast, ≥ 1.
    static func addSigmoidMeanPlusOne(_ g: inout GraphFixture) {
        g.node("Sigmoid", ["x"], "s")
        g.node("ReduceMean", ["s"], "m", ["axes": .ints([2, 3]), "keepdims": .int(1)])
        g.initializers["one"] = .float(Tensor(scalar: 1))
        g.node("Add", ["m", "one"], "d")
    }

    @Test func arithmeticOnTwoActivations() throws {
        // y = op(x, mean_hw(sigmoid(x)) + 1): both operands depend on x, the second broadcast.
        for op in ["Add", "Sub", "Mul", "Div"] {
            var g = GraphFixture()
            GradientTests.addSigmoidMeanPlusOne(&g)
            g.node(op, ["x", "d"], "y")
            var rng = SeededRandom(5)
            try GradientTests.check(g.model(input: [3, 4, 4], outputs: ["y"]), input: rng.tensor([2, 3, 4, 4]))
        }
    }

    @Test func maxPool() throws {
        let (model, x) = GradientTests.maxPoolWithoutNearTies()
        try GradientTests.check(model, input: x)
    }

    /// A padded, ceil-mode MaxPool and an input of distinct values 0.05 apart, so that no window has a near-tie.
    static func maxPoolWithoutNearTies() -> (OnnxModel, Tensor) {
        var g = GraphFixture()
        g.node("MaxPool", ["x"], "y", ["kernel_shape": .ints([3, 3]), "strides": .ints([2, 2]), "pads": .ints([1, 1, 1, 1]),
                                      "ceil_mode": .int(1), "dilations": .ints([1, 1])])
        let count = 2 * 2 * 6 * 6
        var order = Array(0..<count)
        var rng = SeededRandom(11)
        for i in stride(from: count - 1, to: 0, by: -1) { order.swapAt(i, Int(rng.next() * Float(i + 1)) % (i + 1)) }
        return (g.model(input: [2, 6, 6], outputs: ["y"]), Tensor(uncheckedShape: [2, 2, 6, 6], data: order.map { Float($0) * 0.05 - 3 }))
    }

    @Test func averagePools() throws {
        for inc in [0, 1] {
            try GradientTests.single("AveragePool", ["kernel_shape": .ints([3, 2]), "strides": .ints([2, 2]),
                                                     "pads": .ints([1, 0, 1, 1]), "count_include_pad": .int(inc),
                                                     "ceil_mode": .int(1)])
        }
        try GradientTests.single("GlobalAveragePool")
        try GradientTests.single("ReduceMean", ["axes": .ints([1, -1]), "keepdims": .int(0)])
    }

    @Test func shapeOps() throws {
        try GradientTests.single("Flatten", ["axis": .int(1)])
        try GradientTests.single("Reshape", extra: ["s"], setup: { $0.ints("s", [0, 5, -1]) })
        try GradientTests.single("Unsqueeze", extra: ["a"], setup: { $0.ints("a", [1, 4]) })
        try GradientTests.single("Squeeze", extra: ["a"], setup: { $0.ints("a", [2]) }, shape: [3, 1, 4])
        try GradientTests.single("Softmax", ["axis": .int(1)], lo: -2, hi: 2)
        try GradientTests.single("Softmax", ["axis": .int(1)], lo: -2, hi: 2, opset: 11)
    }

    @Test func concatOfActivations() throws {
        var g = GraphFixture()
        g.node("Sigmoid", ["x"], "s")
        g.weight("c", [1, 2, 5, 5])
        g.node("Mul", ["x", "c"], "k")
        g.node("Concat", ["s", "x", "k"], "y", ["axis": .int(1)])
        var rng = SeededRandom(6)
        try GradientTests.check(g.model(input: [2, 5, 5], outputs: ["y"]), input: rng.tensor([2, 2, 5, 5]))
    }

    @Test func gemmAndMatMul() throws {
        let (model, x) = GradientTests.gemmAndMatMulNet()
        try GradientTests.check(model, input: x)
    }

    /// Flatten, Gemm (transB, alpha, beta, bias), MatMul, and a batch of two inputs.
    static func gemmAndMatMulNet() -> (OnnxModel, Tensor) {
        var g = GraphFixture()
        g.node("Flatten", ["x"], "f")
        g.weight("w", [4, 12]); g.weight("c", [4])
        g.node("Gemm", ["f", "w", "c"], "h", ["transB": .int(1), "alpha": .float(0.7), "beta": .float(0.5)])
        g.weight("m", [4, 3])
        g.node("MatMul", ["h", "m"], "y")
        var rng = SeededRandom(8)
        return (g.model(input: [3, 2, 2], outputs: ["y"]), rng.tensor([2, 3, 2, 2]))
    }

    /// A residual block: Conv-BN-ReLU-Conv-BN + skip, ReLU, MaxPool, GAP, Flatten, Gemm, Softmax.
    static func residualNet(opset: Int = 13) -> OnnxModel {
        var g = GraphFixture()
        g.weight("w1", [3, 3, 3, 3]); g.weight("w2", [3, 3, 3, 3])
        for bn in ["a", "b"] {
            g.weight("\(bn)s", [3], 0.5, 1.5); g.weight("\(bn)b", [3]); g.weight("\(bn)m", [3], -0.2, 0.2); g.weight("\(bn)v", [3], 0.5, 2)
        }
        let pad: [String: AttributeValue] = ["pads": .ints([1, 1, 1, 1])]
        g.node("Conv", ["x", "w1"], "c1", pad)
        g.node("BatchNormalization", ["c1", "as", "ab", "am", "av"], "b1")
        g.node("Relu", ["b1"], "r1")
        g.node("Conv", ["r1", "w2"], "c2", pad)
        g.node("BatchNormalization", ["c2", "bs", "bb", "bm", "bv"], "b2")
        g.node("Add", ["b2", "x"], "s")
        g.node("Relu", ["s"], "block")
        g.node("MaxPool", ["block"], "p", ["kernel_shape": .ints([2, 2]), "strides": .ints([2, 2])])
        g.node("GlobalAveragePool", ["p"], "gap")
        g.node("Flatten", ["gap"], "flat")
        g.weight("fw", [4, 3]); g.weight("fb", [4])
        g.node("Gemm", ["flat", "fw", "fb"], "logits", ["transB": .int(1)])
        g.node("Softmax", ["logits"], "y", ["axis": .int(1)])
        return g.model(input: [3, 6, 6], outputs: ["y"], opset: opset)
    }

    @Test func residualNetworkFoldedAndUnfolded() throws {
        var rng = SeededRandom(12)
        let x = rng.tensor([2, 3, 6, 6])
        // ε = 2e-3: the composite has many ReLU/MaxPool kinks; rounding error stays ≲ 5e-4.
        try GradientTests.check(GradientTests.residualNet(), input: x, fold: true, eps: 2e-3)
        try GradientTests.check(GradientTests.residualNet(), input: x, fold: false, eps: 2e-3)
        try GradientTests.check(GradientTests.residualNet(), input: x, from: "s", to: "y", eps: 2e-3)
        let model = try Model(onnx: GradientTests.residualNet())
        #expect(throws: ModelError.self) { try model.subnetwork(from: "r1", to: "block") }
    }

    @Test func batchedCotangentsEqualSeparateOnes() throws {
        let model = try Model(onnx: GradientTests.residualNet())
        var rng = SeededRandom(13)
        let x = rng.tensor([3, 3, 6, 6])
        let sub = try model.subnetwork(from: "x", to: "logits")
        let tape = try sub.forward(x)
        let cot = rng.tensor([6, 4])
        let batched = try sub.backward(tape, cotangent: cot)
        for t in 0..<2 {
            var rows = [Float]()
            for n in 0..<3 { rows += Array(cot.data[((n * 2 + t) * 4)..<((n * 2 + t + 1) * 4)]) }
            let single = try sub.backward(tape, cotangent: Tensor(uncheckedShape: [3, 4], data: rows))
            for n in 0..<3 {
                let per = 3 * 6 * 6
                let a = Array(batched.data[((n * 2 + t) * per)..<((n * 2 + t + 1) * per)])
                let b = Array(single.data[(n * per)..<((n + 1) * per)])
                #expect(zip(a, b).allSatisfy { abs($0 - $1) <= 1e-5 })
            }
        }
    }
    /// At a constant input (GGIG's point a_0 = 0 is the baseline itself) every MaxPool window ties
    /// and ReLUs can sit exactly at 0, where finite differences say nothing. The engine follows
    /// PyTorch's and ONNX Runtime's choices: a tie's cotangent goes to the first maximum of the
    /// window in row-major order (padding never wins), and ReLU'(0) = 0 — including when the ReLU
    /// is fused into the convolution before it. Expected values by hand.
    @Test func maxPoolTiesAndReluAtZeroFollowPyTorch() throws {
        var g = GraphFixture()
        g.initializers["w"] = .float(Tensor(uncheckedShape: [1, 1, 1, 1], data: [1]))
        g.initializers["b"] = .float(Tensor(uncheckedShape: [1], data: [-0.5]))
        g.node("Conv", ["x", "w", "b"], "c", ["kernel_shape": .ints([1, 1])])
        g.node("Relu", ["c"], "r")
        g.node("MaxPool", ["r"], "p", ["kernel_shape": .ints([3, 3]), "strides": .ints([2, 2]), "pads": .ints([1, 1, 1, 1])])
        g.node("Flatten", ["p"], "y", ["axis": .int(1)])
        let model = try Model(onnx: g.model(input: [1, 4, 4], outputs: ["y"]))
        // Output (i, j) pools rows 2i−1…2i+1 and columns 2j−1…2j+1 of the 4×4 plane; its first
        // in-plane element in row-major order is (max(0, 2i−1), max(0, 2j−1)).
        let firstOfWindow = [0: 0, 1: 1, 2: 4, 3: 5]    // flat indices of (0,0), (0,1), (1,0), (1,1)
        let above = Tensor(uncheckedShape: [1, 1, 4, 4], data: [Float](repeating: 1.5, count: 16))   // pre-activation 1
        for k in 0..<4 {
            let grad = try model.gradient(above, classes: [k])
            var expected = [Float](repeating: 0, count: 16)
            expected[firstOfWindow[k]!] = 1
            #expect(grad.data == expected, "output \(k)")
        }
        let atZero = Tensor(uncheckedShape: [1, 1, 4, 4], data: [Float](repeating: 0.5, count: 16))   // pre-activation exactly 0
        for k in 0..<4 {
            #expect(try model.gradient(atZero, classes: [k]).data == [Float](repeating: 0, count: 16))
        }
    }
}
