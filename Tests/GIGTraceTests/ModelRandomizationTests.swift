import Foundation
import TestSupport
import Testing
@testable import CNN
@testable import Core
@testable import GIGTrace

/// The model copies of the sanity checks (METHOD §7): re-initialisation statistics, untouched
/// layers and BatchNormalization, the perturbation filter, seeds.
@Suite struct ModelRandomizationTests {
    static func model() throws -> Model {
        try Model.load(path: TestPaths.fixture("small_resnet") + "/legacy_bn.onnx", foldBatchNorm: false)
    }

    static func weights(_ m: Model, _ node: Int) -> [Float] {
        switch m.nodes[node].op {
        case .conv(let c): return c.weight.data
        case .gemm: return m.constants[m.nodes[node].inputs[1]]?.data ?? []
        default: return []
        }
    }

    @Test func randomizingRedrawsOnlyTheChosenLayersWithFanInStd() throws {
        let m = try Self.model()
        let layers = m.parameterLayers
        #expect(layers.map(\.kind).last == "Gemm" && layers.count == 7)   // 6 convs and the fc layer
        let chosen = layers[4]   // a 3×3 conv of block2: 8·9 = 72 inputs per unit
        var rng = SamplingRNG(seed: 5)
        let r = try m.randomizing([chosen.node], rng: &rng)
        let w = Self.weights(r, chosen.node).map(Double.init)
        let mean = w.reduce(0, +) / Double(w.count)
        let std = (w.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(w.count)).squareRoot()
        let expected = (2 / Double(chosen.fanIn)).squareRoot()
        #expect(abs(std / expected - 1) < 0.1, "std \(std) vs √(2/\(chosen.fanIn)) = \(expected)")
        #expect(abs(mean) < 0.2 * expected)
        for other in layers where other.node != chosen.node { #expect(Self.weights(r, other.node) == Self.weights(m, other.node)) }
        // The BatchNormalization nodes are untouched (kept as nodes of their own).
        let bn = m.nodes.indices.filter { if case .batchNorm = m.nodes[$0].op { return true } else { return false } }
        #expect(!bn.isEmpty)
        var again = SamplingRNG(seed: 5)
        #expect(Self.weights(try m.randomizing([chosen.node], rng: &again), chosen.node) == Self.weights(r, chosen.node))
        // The fc layer's bias is set to zero.
        let fc = layers[6]
        var rng2 = SamplingRNG(seed: 6)
        let rf = try m.randomizing([fc.node], rng: &rng2)
        #expect(rf.constants[rf.nodes[fc.node].inputs[2]]?.data.allSatisfy { $0 == 0 } == true)
    }

    @Test func perturbationFilterKeepsClassAndScorePreservingModels() throws {
        // By hand: class changes or probability falls → rejected.
        let reference: [(predicted: Int, probability: Double)] = [(2, 0.5), (4, 0.3)]
        #expect(MapSanityCheck.preserves(reference, [(2, 0.5), (4, 0.31)]))
        #expect(!MapSanityCheck.preserves(reference, [(2, 0.49), (4, 0.4)]))
        #expect(!MapSanityCheck.preserves(reference, [(3, 0.6), (4, 0.4)]))
        // On the fixture: every accepted model keeps each image's class and target probability,
        // checked with softmax computed here from a plain forward pass.
        let m = try Self.model()
        let x = try Npy.read(path: TestPaths.fixture("small_resnet") + "/inputs.npy").floatTensor(path: "inputs")
        let targets = [2, 2, 2, 2]
        let check = MapSanityCheck(model: m, methods: [.gradient], settings: try .standard())
        var rng = SamplingRNG(seed: 9)
        let (models, tried) = try check.perturbedModels(count: 3, sigma: 0.05, images: x, targets: targets, maxTries: 60, rng: &rng)
        #expect(tried >= models.count && !models.isEmpty)
        func softmax(_ model: Model) throws -> [[Double]] {
            let logits = try #require(try model.forward(x)["logits"])
            return (0..<4).map { i in
                let row = (0..<10).map { Double(logits.data[i * 10 + $0]) }
                let total = row.reduce(0) { $0 + exp($1) }
                return row.map { exp($0) / total }
            }
        }
        let before = try softmax(m)
        for p in models {
            let after = try softmax(p)
            #expect(try #require(try p.forward(x)["logits"]).data != (try #require(try m.forward(x)["logits"])).data)
            for i in 0..<4 {
                #expect(after[i].indices.max { after[i][$0] < after[i][$1] } == before[i].indices.max { before[i][$0] < before[i][$1] })
                #expect(after[i][targets[i]] >= before[i][targets[i]] - 1e-12)
            }
        }
        var bad = SamplingRNG(seed: 1)
        #expect(throws: InputError.self) { try m.perturbing(sigma: 0, rng: &bad) }
        #expect(throws: InputError.self) { try check.perturbedModels(count: 0, sigma: 1e-3, images: x, targets: targets, maxTries: 5, rng: &bad) }
    }
    /// Tied weights: two convs read one weight and one bias initializer, two Gemms one matrix and
    /// one bias (built with Python's onnx). Randomizing or perturbing either reader changes the
    /// parameter once for both, in memory and in the file OnnxWriter writes; the written file run
    /// by onnx's own ReferenceEvaluator gives the in-memory model's logits.
    @Test func sharedInitializersChangeOnceForEveryReader() throws {
        let dir = try makeTemporaryFolder("shared-weights")
        let path = "\(dir)/shared.onnx"
        _ = try runPython("""
            import sys, numpy as np, onnx
            from onnx import helper, numpy_helper, TensorProto
            r = np.random.default_rng(3)
            init = lambda name, shape: numpy_helper.from_array(r.normal(0, 0.5, shape).astype(np.float32), name)
            nodes = [helper.make_node("Conv", ["x", "W", "B"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
                     helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
                     helper.make_node("Conv", ["r1", "W", "B"], ["c2"], name="conv2", pads=[1, 1, 1, 1]),
                     helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
                     helper.make_node("Flatten", ["r2"], ["f"], name="flatten"),
                     helper.make_node("Gemm", ["f", "G", "g"], ["h1"], name="fc1"),
                     helper.make_node("Relu", ["h1"], ["s1"], name="relu3"),
                     helper.make_node("Gemm", ["s1", "H", "h"], ["h2"], name="fc2"),
                     helper.make_node("Relu", ["h2"], ["s2"], name="relu4"),
                     helper.make_node("Gemm", ["s2", "H", "h"], ["logits"], name="fc3")]
            graph = helper.make_graph(nodes, "tied", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 5, 5])],
                                      [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 6])],
                                      [init("W", (2, 2, 3, 3)), init("B", (2,)), init("G", (50, 6)), init("g", (6,)),
                                       init("H", (6, 6)), init("h", (6,))])
            model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
            onnx.checker.check_model(model)
            onnx.save(model, sys.argv[1])
            """, arguments: [path])
        let m = try Model.load(path: path, foldBatchNorm: false)
        let layers = m.parameterLayers
        #expect(layers.map(\.name) == ["conv1", "conv2", "fc1", "fc2", "fc3"])
        #expect(layers.map(\.weight) == ["W", "W", "G", "H", "H"] && layers.map(\.bias) == ["B", "B", "g", "h", "h"])
        func convBias(_ model: Model, _ node: Int) -> [Float] {
            if case .conv(let c) = model.nodes[node].op { return c.bias ?? [] } else { return [] }
        }
        var rng = SamplingRNG(seed: 4)
        let input = Tensor(uncheckedShape: [3, 2, 5, 5], data: (0..<150).map { _ in Float(rng.unit()) * 2 - 1 })
        var variants = [(String, Model)]()
        for (label, chosen) in [("conv2", [layers[1].node]), ("fc2", [layers[3].node]), ("all", layers.map(\.node))] {
            let r = try m.randomizing(chosen, rng: &rng)
            let (w1, w2) = (Self.weights(r, layers[0].node), Self.weights(r, layers[1].node))
            #expect(w1 == w2 && (label == "fc2") == (w1 == Self.weights(m, layers[0].node)), "\(label): conv weights")
            #expect(convBias(r, layers[0].node) == convBias(r, layers[1].node))
            #expect((label == "fc2") == (convBias(r, layers[0].node) == convBias(m, layers[0].node)), "\(label): conv biases")
            #expect((label == "conv2") == (Self.weights(r, layers[3].node) == Self.weights(m, layers[3].node)), "\(label): fc weight")
            #expect((label == "all") == (Self.weights(r, layers[2].node) != Self.weights(m, layers[2].node)), "\(label): fc1 untouched")
            variants.append((label, r))
        }
        // One draw per parameter: randomizing all five layers draws W, G and H (conv2 and fc3 add none).
        var a = SamplingRNG(seed: 8), b = SamplingRNG(seed: 8)
        _ = try m.randomizing(layers.map(\.node), rng: &a)
        for _ in 0..<(2 * 2 * 9 + 50 * 6 + 6 * 6) { _ = Model.gaussian(&b) }
        #expect(a.unit() == b.unit())
        let perturbed = try m.perturbing(sigma: 0.05, rng: &rng)
        #expect(Self.weights(perturbed, layers[0].node) == Self.weights(perturbed, layers[1].node))
        #expect(Self.weights(perturbed, layers[0].node) != Self.weights(m, layers[0].node))
        variants.append(("perturbed", perturbed))
        try Npy.write(input, to: "\(dir)/x.npy")
        for (label, variant) in variants {
            let file = "\(dir)/\(label).onnx"
            try OnnxWriter.write(variant, replacingInitializersOf: path, to: file)
            let logits = try #require(try variant.forward(input)["logits"])
            try Npy.write(logits, to: "\(dir)/\(label)-ours.npy")
            let result = try runPython("""
                import sys, numpy as np, onnx
                from onnx.reference import ReferenceEvaluator
                model = onnx.load(sys.argv[1]); onnx.checker.check_model(model, full_check=True)
                y = ReferenceEvaluator(model).run(None, {"x": np.load(sys.argv[2])})[0]
                ours = np.load(sys.argv[3])
                print(float(np.abs(y - ours).max() / np.abs(y).max()))
                """, arguments: [file, "\(dir)/x.npy", "\(dir)/\(label)-ours.npy"])
            let difference = try #require(Double(result.trimmingCharacters(in: .whitespacesAndNewlines)))
            #expect(difference < 1e-5, "\(label): written file's logits vs in-memory, relative \(difference)")
        }
    }
}
