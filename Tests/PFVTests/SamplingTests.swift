import Foundation
import Testing
@testable import CNN
@testable import Core
@testable import PFV

@Suite("PFV extraction and contribution sampling")
struct SamplingTests {
    /// Upper α-quantile of χ² with `df` degrees of freedom by the Wilson–Hilferty cube
    /// approximation (accurate to < 1 % for df ≥ 3 at these tails): df·(1 − 2/(9df) + z·√(2/(9df)))³.
    func chiSquareCritical(df: Int, z: Double) -> Double {
        let k = Double(df), a = 2 / (9 * k)
        return k * pow(1 - a + z * a.squareRoot(), 3)
    }

    /// Sampled frequencies follow max(r, 0)/Σ max(r, 0): χ² goodness of fit at α = 0.001
    /// (z = 3.0902), fixed seed. Non-positive contributions are never drawn.
    @Test func frequenciesMatchProbabilities() {
        let r: [Float] = [3, 0, -2, 1, 5, 0.5, 2, -0.1, 4, 1.5]
        var rng = SamplingRNG(seed: 2024)
        let draws = 60_000
        let picks = ContributionSampler.draw(weights: r, count: draws, using: &rng)
        #expect(picks.count == draws)
        var counts = [Int](repeating: 0, count: r.count)
        for p in picks { counts[p] += 1 }
        let total = r.reduce(0) { $0 + Double(max($1, 0)) }
        var chi2 = 0.0, categories = 0
        for (i, w) in r.enumerated() {
            if w <= 0 { #expect(counts[i] == 0, "index \(i) with r = \(w) drawn \(counts[i]) times"); continue }
            let expected = Double(draws) * Double(w) / total
            chi2 += pow(Double(counts[i]) - expected, 2) / expected
            categories += 1
        }
        let critical = chiSquareCritical(df: categories - 1, z: 3.0902)
        #expect(abs(chiSquareCritical(df: 6, z: 3.0902) - 22.458) < 0.3)  // table value χ²_{0.999}(6)
        #expect(chi2 < critical, "χ² = \(chi2), critical \(critical)")
    }

    @Test func sameSeedSameDrawsDifferentSeedDifferentDraws() {
        let r: [Float] = (0..<50).map { Float($0 % 7) }
        var a = SamplingRNG(seed: 1), b = SamplingRNG(seed: 1), c = SamplingRNG(seed: 2)
        let x = ContributionSampler.draw(weights: r, count: 100, using: &a)
        #expect(x == ContributionSampler.draw(weights: r, count: 100, using: &b))
        #expect(x != ContributionSampler.draw(weights: r, count: 100, using: &c))
    }

    func syntheticReadout(_ contributions: [[Float]], indices: [Int]) throws -> LayerReadout {
        // Layer 2×2×2; PFV values encode (image, position) so records can be checked.
        let model = try { var n = TinyNet(seed: 1); let y = n.conv("x", 1, 2); return (try n.model(input: [1, 2, 2], output: y), y) }()
        let g = try LayerGeometry(model: model.0, layer: model.1)
        let n = contributions.count
        var act = [Float](repeating: 0, count: n * 8)
        for i in 0..<n { for c in 0..<2 { for p in 0..<4 { act[(i * 2 + c) * 4 + p] = Float(100 * i + 10 * c + p) } } }
        return try LayerReadout(geometry: g, activations: Tensor(uncheckedShape: [n, 2, 2, 2], data: act),
                                contributions: Tensor(uncheckedShape: [n, 2, 2], data: contributions.flatMap { $0 }),
                                classes: Array(repeating: 1, count: n), labels: Array(repeating: 1, count: n),
                                predictions: Array(repeating: 1, count: n), imageIndices: indices)
    }

    /// Streaming over batches: k draws per image with positive evidence, an image whose PFVs all
    /// oppose the class is skipped (documented choice), records carry the right vectors.
    @Test func samplerStreamsSkipsAndRecords() throws {
        let first = try syntheticReadout([[0, 2, 0, 0], [-1, -3, 0, -2]], indices: [10, 11])
        let second = try syntheticReadout([[1, 1, 1, 1]], indices: [12])
        var s = try ContributionSampler(layer: first.geometry, perImage: .count(3), seed: 5)
        try s.add(first)
        try s.add(second)
        #expect(s.imagesSeen == 3 && s.skippedImages == 1)
        #expect(s.samples.count == 6)
        let fromFirst = s.samples.records.filter { $0.imageIndex == 10 }
        #expect(fromFirst.count == 3 && fromFirst.allSatisfy { $0.position == PFVPosition(h: 0, w: 1) && $0.contribution == 2 })
        #expect(!s.samples.records.contains { $0.imageIndex == 11 })
        for i in 0..<s.samples.count {
            let rec = s.samples.records[i]
            let image = 0   // each readout holds its images from batch index 0
            let p = rec.position.h * 2 + rec.position.w
            #expect(Array(s.samples.vector(i)) == [Float(100 * image + p), Float(100 * image + 10 + p)])
        }
        var all = try ContributionSampler(layer: first.geometry, perImage: .all, seed: 5)
        try all.add(first)
        #expect(all.samples.count == 8 && all.skippedImages == 0)
        #expect(throws: PFVError.self) { try ContributionSampler(layer: first.geometry, perImage: .count(0), seed: 1) }
    }

    /// Contributions r_p = Σ_ch X·∂y_c/∂X against PyTorch's block gradients (small ResNet fixture,
    /// class = the fixture's target, given as labels).
    @Test func contributionsMatchPyTorch() throws {
        let model = try Model.load(path: fixturePath("small_resnet/legacy_folded.onnx"))
        let inputs = try Npy.read(path: fixturePath("small_resnet/inputs.npy")).floatTensor(path: "inputs.npy")
        let block = try Npy.read(path: fixturePath("small_resnet/block.npy")).floatTensor(path: "block.npy")
        let grad = try Npy.read(path: fixturePath("small_resnet/block_grad.npy")).floatTensor(path: "block_grad.npy")
        let targets = [3, 0, 7, 9]
        let extractor = try PFVExtractor(model: model, layer: "/block1/relu_1/Relu_output_0", classSource: .label)
        let batch = try PFVBatch(images: inputs, labels: targets, imageIndices: [100, 101, 102, 103])
        let r = try extractor.readout(batch)
        #expect(r.predictions == [2, 2, 2, 2])
        #expect(r.classes == targets)
        for n in 0..<4 {
            for p in 0..<256 {
                let expected = (0..<8).reduce(Float(0)) { $0 + block.data[(n * 8 + $1) * 256 + p] * grad.data[(n * 8 + $1) * 256 + p] }
                #expect(abs(r.contributions.data[n * 256 + p] - expected) < 1e-4 + 1e-3 * abs(expected))
            }
        }
        let set = try r.allPFVs()
        #expect(set.count == 4 * 256 && set.channels == 8)
        let i = 2 * 256 + 5 * 16 + 7
        #expect(set.records[i] == PFVRecord(imageIndex: 102, position: PFVPosition(h: 5, w: 7), label: 7, prediction: 2,
                                            contribution: r.contributions.data[i]))
        let expectedVector: [Float] = (0..<8).map { block.data[(2 * 8 + $0) * 256 + 5 * 16 + 7] }
        let gotVector = Array(set.vector(i))
        #expect(zip(gotVector, expectedVector).allSatisfy { abs($0 - $1) < 1e-4 })
        let byPrediction = try PFVExtractor(model: model, layer: "/block1/relu_1/Relu_output_0").readout(batch)
        #expect(byPrediction.classes == [2, 2, 2, 2])
    }
}
