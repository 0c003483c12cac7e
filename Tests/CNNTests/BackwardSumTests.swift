import Testing
@testable import CNN
@testable import Core

/// `Subnetwork.backwardSum` (one cotangent block for every sample, weighted, summed over the
/// samples; summed early where the rest of the pull-back is linear and sample-free) against the
/// plain batched `backward` on the tiled, weighted cotangents, summed afterwards.
@Suite struct BackwardSumTests {
    /// Σ_n w_n · backward(tape, [w-scaled block per sample])[n·T + t], computed the plain way.
    static func reference(_ sub: Subnetwork, _ tape: Subnetwork.Tape, block: Tensor, weights: [Float]) throws -> Tensor {
        let n = tape.batch, t = block.shape[0]
        var rows = [Float]()
        for w in weights { rows += block.data.map { $0 * w } }
        let pulled = try sub.backward(tape, cotangent: Tensor(uncheckedShape: [n * t] + Array(block.shape.dropFirst()), data: rows))
        let per = pulled.count / (n * t)
        var sum = [Float](repeating: 0, count: t * per)
        for i in 0..<n { for j in 0..<(t * per) { sum[j] += pulled.data[i * t * per + j] } }
        return Tensor(uncheckedShape: [t] + Array(pulled.shape.dropFirst()), data: sum)
    }

    /// max |a − b| ≤ 1e-5 · max |b|, same shape.
    static func close(_ a: Tensor, _ b: Tensor) -> Bool {
        guard a.shape == b.shape else { return false }
        let scale = max(b.data.reduce(Float(0)) { max($0, abs($1)) }, 1e-12)
        return zip(a.data, b.data).allSatisfy { abs($0 - $1) <= 1e-5 * scale }
    }

    static func check(_ model: Model, from: String, to: String, input: Tensor, targets: Int, seed: UInt64,
                      expectTail: Set<String>? = nil) throws {
        let sub = try model.subnetwork(from: from, to: to)
        if let expectTail { #expect(sub.linearTail == expectTail) }
        var start = input
        if from != model.inputName { start = try #require(try model.forward(input, keep: [from])[from]) }
        let tape = try sub.forward(start)
        var rng = SeededRandom(seed)
        let block = rng.tensor([targets] + Array(tape.output.shape.dropFirst()))
        let weights = (0..<tape.batch).map { _ in rng.uniform(0.1, 1) }
        let summed = try sub.backwardSum(tape, block: block, weights: weights)
        let expected = try reference(sub, tape, block: block, weights: weights)
        #expect(close(summed, expected), "\(from) → \(to) with \(model.threads) threads")
    }

    @Test func residualNetFoldedUnfoldedAndSplit() throws {
        var rng = SeededRandom(21)
        let x = rng.tensor([5, 3, 6, 6])
        for fold in [true, false] {
            for threads in [1, 2] {
                var model = try Model(onnx: GradientTests.residualNet(), foldBatchNorm: fold)
                model.threads = threads
                // The Conv (and an unfolded BN) after x are linear; the ReLU ends the tail.
                try BackwardSumTests.check(model, from: "x", to: "logits", input: x, targets: 3, seed: 4,
                                           expectTail: fold ? ["x", "b1"] : ["x", "c1", "b1"])
                try BackwardSumTests.check(model, from: "s", to: "y", input: x, targets: 2, seed: 5)
            }
        }
    }

    /// A summed cotangent (through the Conv) meets a per-sample one (through the ReLU) at x, and a
    /// fully linear subnetwork is summed right at its output.
    @Test func mixedAndFullyLinearPaths() throws {
        var g = GraphFixture()
        g.weight("w", [3, 3, 3, 3]); g.weight("k", [1, 3, 1, 1], 0.5, 2)
        g.node("Relu", ["x"], "r")
        g.node("Conv", ["x", "w"], "c", ["pads": .ints([1, 1, 1, 1]), "strides": .ints([2, 2])])
        g.node("Mul", ["c", "k"], "m")
        g.node("Add", ["r", "x"], "s")
        g.node("MaxPool", ["s"], "p", ["kernel_shape": .ints([2, 2]), "strides": .ints([2, 2])])
        g.node("Sub", ["p", "m"], "y")
        g.node("Flatten", ["m"], "f")
        g.weight("fw", [4, 27])
        g.node("Gemm", ["f", "fw"], "z", ["transB": .int(1)])
        var rng = SeededRandom(22)
        let x = rng.tensor([4, 3, 6, 6])
        for threads in [1, 2] {
            let model = try Model(onnx: g.model(input: [3, 6, 6], outputs: ["y", "z"]), threads: threads)
            try BackwardSumTests.check(model, from: "x", to: "y", input: x, targets: 3, seed: 6, expectTail: ["x", "c", "m"])
            try BackwardSumTests.check(model, from: "x", to: "z", input: x, targets: 2, seed: 7, expectTail: ["x", "c", "m", "f", "z"])
        }
    }

    /// The small ResNet fixture from block1 to the logits: block2's stride-2 Conv and 1×1
    /// downsample run on the summed cotangents.
    @Test func smallResNetFromBlock1() throws {
        let x = try PyTorchFixtureTests.npy("inputs.npy")
        for threads in [1, 2] {
            let model = try Model.load(path: PyTorchFixtureTests.dir + "/legacy_folded.onnx", threads: threads)
            try BackwardSumTests.check(model, from: "/block1/relu_1/Relu_output_0", to: "logits", input: x, targets: 10, seed: 8)
        }
    }

    @Test func badBlockOrWeightsThrow() throws {
        let model = try Model(onnx: GradientTests.residualNet())
        let sub = try model.subnetwork(from: "x", to: "logits")
        var rng = SeededRandom(23)
        let tape = try sub.forward(rng.tensor([2, 3, 6, 6]))
        #expect(throws: ModelError.self) { try sub.backwardSum(tape, block: rng.tensor([2, 4]), weights: [1]) }
        #expect(throws: ModelError.self) { try sub.backwardSum(tape, block: rng.tensor([2, 5]), weights: [1, 1]) }
    }
}
