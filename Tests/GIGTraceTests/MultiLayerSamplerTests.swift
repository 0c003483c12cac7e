import Foundation
import Testing
@testable import CNN
@testable import Core
@testable import Datasets
@testable import GIGTrace
@testable import PFV

/// The multi-layer sampler (one forward, one backward collecting the gradients at every layer)
/// against the one-layer path (`PFVExtractor`: its own forward and a backward from each layer).
@Suite struct MultiLayerSamplerTests {
    static let model = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("models/fashion-resnet/model.onnx").path
    static let images = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"

    @Test func equalsOneLayerAtATime() throws {
        let model = try Model.load(path: Self.model)
        let spec = DatasetSpec(data: Self.images, preprocessing: Preprocessing(mean: [0.2860], std: [0.3530]),
                               selection: DatasetSelection(limit: 20))
        let loader = try spec.makeLoader(batchSize: 8)
        let layers = ["/stage1/relu/Relu_output_0", "/stage2/relu/Relu_output_0", "/stage3/relu/Relu_output_0"]
        var seen = 0
        let sets = try MultiLayerSampler.sample(model: model, loader: loader, layers: layers, perImage: .count(5), seed: 11) {
            seen += $0
        }
        #expect(seen == 20)
        for (i, layer) in layers.enumerated() {
            let extractor = try PFVExtractor(model: model, layer: layer)
            var reference = try ContributionSampler(layer: extractor.geometry, perImage: .count(5),
                                                    seed: MultiLayerSampler.layerSeed(11, i))
            for b in 0..<loader.batchCount {
                let batch = try loader.batch(b)
                try reference.add(extractor.readout(PFVBatch(images: batch.images, labels: batch.labels, imageIndices: batch.indices)))
            }
            let got = sets[i], want = reference.samples
            #expect(got.count == want.count && got.count > 0)
            #expect(got.records.map(\.position) == want.records.map(\.position))
            #expect(got.records.map(\.imageIndex) == want.records.map(\.imageIndex))
            for (a, b) in zip(got.records, want.records) {
                #expect(abs(a.contribution - b.contribution) <= 1e-4 * max(1, abs(b.contribution)))
            }
            let worst = zip(got.vectors, want.vectors).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? 0
            #expect(got.vectors.count == want.vectors.count && worst < 1e-5)
        }
    }

    @Test func refusesBadLayers() throws {
        let model = try Model.load(path: Self.model)
        #expect(throws: PFVError.self) { try MultiLayerSampler(model: model, layers: ["logits"], seed: 0) }
        #expect(throws: PFVError.self) { try MultiLayerSampler(model: model, layers: [], seed: 0) }
        #expect(throws: PFVError.self) {
            try MultiLayerSampler(model: model, layers: ["/stage2/relu/Relu_output_0", "/stage2/relu/Relu_output_0"], seed: 0)
        }
    }
}
