import Foundation
import Testing
@testable import CNN
@testable import Concepts
@testable import Datasets
@testable import GIGTrace
@testable import PFV

/// `BatchTracer.trace` with two threads (several images: one image per thread; one image: its
/// integration steps split between the threads) gives the single-threaded run's traces.
@Suite struct BatchTracerTests {
    static let layers = ["/stage2/relu/Relu_output_0", "/stage3/relu/Relu_output_0"]

    /// max |a − b| ≤ 1e-4 · max |b| (the two-thread forward may put other images side by side in a GEMM).
    static func close(_ a: [Float], _ b: [Float]) -> Bool {
        let scale = max(b.map(abs).max() ?? 0, 1e-12)
        return a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= 1e-4 * scale }
    }

    @Test func twoThreadsTraceLikeOne() throws {
        let path = GIGCompletenessTests.root.appendingPathComponent("models/fashion-resnet/model.onnx").path
        let spec = DatasetSpec(data: "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz",
                               preprocessing: Preprocessing(mean: [0.2860], std: [0.3530]),
                               selection: DatasetSelection(limit: 5))
        let batch = try spec.makeLoader(batchSize: 5).batch(0)
        let serial = try Model.load(path: path, threads: 1)
        let values = try serial.forward(batch.images, keep: Set(Self.layers))
        let geometries = try Self.layers.map { try LayerGeometry(model: serial, layer: $0) }
        // K-means banks (K = 6) from the PFVs at every position of these images.
        let banks = try Self.layers.indices.map { l -> ConceptBank in
            let pfvs = try BatchTracer.pfvRows(#require(values[Self.layers[l]]), geometries[l])
            return try ConceptLearner.learn(pfvs: pfvs, k: 6, method: .kmeans, layer: Self.layers[l])
        }
        let quadrature = try Quadrature(method: .gaussLegendre, steps: 6)
        let one = try BatchTracer(model: serial, layers: geometries, banks: banks, quadrature: quadrature)
        let two = try BatchTracer(model: Model.load(path: path, threads: 2), layers: geometries, banks: banks, quadrature: quadrature)
        var single = batch
        single.images = batch.images.slice(batch: 0..<1)
        single.labels = [batch.labels[0]]
        single.indices = [batch.indices[0]]
        single.identifiers = [batch.identifiers[0]]
        for (b, part) in [(batch, "5 images"), (single, "1 image")] {
            let expected = try one.trace(b), traces = try two.trace(b)
            #expect(traces.count == expected.count)
            for (t, e) in zip(traces, expected) {
                #expect(t.index == e.index && t.label == e.label && t.prediction == e.prediction)
                #expect(t.targetActive == e.targetActive)
                for (m, r) in zip(t.layerEdges + t.classEdges, e.layerEdges + e.classEdges) {
                    #expect(m.rows == r.rows && m.columns == r.columns && Self.close(m.values, r.values), "\(part), image \(e.index)")
                }
                #expect(abs(t.completenessError - e.completenessError) <= 1e-4, "\(part), image \(e.index)")
            }
        }
    }
}
