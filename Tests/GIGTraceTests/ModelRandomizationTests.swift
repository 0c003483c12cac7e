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
}
