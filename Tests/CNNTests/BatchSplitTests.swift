import Testing
@testable import CNN
@testable import Core

/// With `threads > 1`, `Model.forward` and `Model.gradient` split the batch between threads: the
/// results must equal a serial run's, and graphs that mix samples must run whole.
///
/// Not bit for bit: OpenBLAS 0.3.21's `cblas_sgemm` (Debian, 1 thread) rounds a column of C
/// differently depending on the GEMM's total width N (checked with ctypes: the first 512 columns
/// of an 8×72×1024 product differ from an 8×72×512 one by up to 8e-6), and the engine puts several
/// images in one GEMM for small planes, so sub-batches change N. Hence a 1e-5 relative tolerance.
@Suite struct BatchSplitTests {
    /// max |a − b| ≤ 1e-5 · max |b|, same shape.
    static func same(_ a: Tensor?, _ b: Tensor?) -> Bool {
        guard let a, let b, a.shape == b.shape else { return false }
        let scale = b.data.reduce(Float(0)) { max($0, abs($1)) }
        return zip(a.data, b.data).allSatisfy { abs($0 - $1) <= 1e-5 * scale }
    }

    static func model(_ file: String, threads: Int) throws -> Model {
        try Model.load(path: PyTorchFixtureTests.dir + "/" + file, threads: threads)
    }

    @Test(arguments: ["legacy_folded.onnx", "dynamo.onnx"])
    func splitMatchesSerialBitForBit(_ file: String) throws {
        let serial = try BatchSplitTests.model(file, threads: 1), split = try BatchSplitTests.model(file, threads: 2)
        #expect(split.batchSeparable)
        let block = try #require(PyTorchFixtureTests.blocks[file])
        let x = try PyTorchFixtureTests.npy("inputs.npy")
        for batch in [x, x.slice(batch: 0..<3)] {
            let a = try serial.forward(batch, keep: [block]), b = try split.forward(batch, keep: [block])
            #expect(a.keys.sorted() == b.keys.sorted())
            for (name, t) in a { #expect(BatchSplitTests.same(b[name], t), "\(name)") }
            let classes = Array([3, 0, 7, 9].prefix(batch.shape[0]))
            #expect(BatchSplitTests.same(try split.gradient(batch, classes: classes), try serial.gradient(batch, classes: classes)))
            #expect(BatchSplitTests.same(try split.gradient(batch, classes: classes, wrt: block),
                                         try serial.gradient(batch, classes: classes, wrt: block)))
        }
    }

    /// A split forward tape pulls back T = 3 cotangents per sample like a serial one.
    @Test func splitTapeMatchesSerial() throws {
        let serial = try BatchSplitTests.model("legacy_folded.onnx", threads: 1)
        let split = try BatchSplitTests.model("legacy_folded.onnx", threads: 2)
        let block = try #require(PyTorchFixtureTests.blocks["legacy_folded.onnx"])
        let x = try PyTorchFixtureTests.npy("inputs.npy")
        var rng = SeededRandom(5)
        let cotangent = rng.tensor([4 * 3, 10])
        let a = try serial.subnetwork(from: "input", to: "logits"), b = try split.subnetwork(from: "input", to: "logits")
        let ta = try a.forward(x, keep: [block]), tb = try b.forward(x, keep: [block])
        #expect(BatchSplitTests.same(tb.output, ta.output) && BatchSplitTests.same(tb.kept[block], ta.kept[block]))
        #expect(BatchSplitTests.same(try b.backward(tb, cotangent: cotangent), try a.backward(ta, cotangent: cotangent)))
        #expect(throws: ModelError.self) { try b.backward(tb, cotangent: rng.tensor([5, 10])) }
        let ca = try a.backward(ta, cotangent: cotangent, collecting: ["input", block])
        let cb = try b.backward(tb, cotangent: cotangent, collecting: ["input", block])
        #expect(BatchSplitTests.same(cb["input"], ca["input"]) && BatchSplitTests.same(cb[block], ca[block]))
        #expect(throws: ModelError.self) { try b.backward(tb, cotangent: cotangent, collecting: ["nope"]) }
    }

    /// Softmax over the batch axis and ReduceMean over axis 0 couple the samples.
    @Test func graphsMixingSamplesRunWhole() throws {
        var g = GraphFixture()
        g.node("Relu", ["x"], "r")
        g.node("Softmax", ["r"], "s", ["axis": .int(0)])
        g.node("ReduceMean", ["s"], "m", ["axes": .ints([0]), "keepdims": .int(1)])
        g.node("Add", ["s", "m"], "y")
        var model = try Model(onnx: g.model(input: [2, 3, 3], outputs: ["y"]), threads: 2)
        #expect(!model.batchSeparable)
        var rng = SeededRandom(3)
        let x = rng.tensor([4, 2, 3, 3])
        let two = try #require(try model.forward(x)["y"])
        model.threads = 1
        #expect(try model.forward(x)["y"] == two)
        // Softmax over 4 samples sums to 1 per position, and its mean over samples is 1/4.
        let per = 2 * 3 * 3
        for j in 0..<per {
            let sum: Float = (0..<4).reduce(0) { $0 + two.data[$1 * per + j] }
            #expect(abs(sum - 2) < 1e-5)
        }
        #expect(try Model(onnx: GradientTests.residualNet()).batchSeparable)
    }
}
