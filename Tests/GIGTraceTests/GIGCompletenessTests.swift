import Foundation
import Testing
@testable import CNN
@testable import Concepts
@testable import Datasets
@testable import GIGTrace
@testable import PFV

/// Completeness on the demo model (issue #6 acceptance): with concept banks learned as a trace
/// learns them (contribution-sampled PFVs, K = 32 or C if smaller, at stage 1/2/3), the median
/// relative completeness error per image, Σ_r|Σ_q A(q→r) − Δg_r| / Σ_r|Δg_r| over the five GIG
/// computations of a trace (stage1→stage2, stage2→stage3, each stage→classes), over 30
/// Fashion-MNIST test images, is under 1 % at `TraceConfiguration.defaultSteps` with Gauss–Legendre.
/// The measurement behind the default is in BENCHMARKS.md, "GIG completeness vs steps".
@Suite struct GIGCompletenessTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let layers = ["/stage1/relu/Relu_output_0", "/stage2/relu/Relu_output_0", "/stage3/relu/Relu_output_0"]

    @Test(arguments: [ConceptMethod.nmf, .kmeans])
    func medianCompletenessErrorIsUnderOnePercentAtDefaultSteps(method: ConceptMethod) throws {
        let model = try Model.load(path: Self.root.appendingPathComponent("models/fashion-resnet/model.onnx").path)
        let spec = DatasetSpec(data: "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz",
                               preprocessing: Preprocessing(mean: [0.2860], std: [0.3530]),
                               selection: DatasetSelection(limit: 130))
        let all = try spec.makeLoader(batchSize: 130).batch(0)
        // Banks from 100 images (8 contribution-weighted draws each); GIG on the 30 others.
        let learn = try PFVBatch(images: all.images.slice(batch: 0..<100), labels: Array(all.labels[0..<100]),
                                 imageIndices: Array(0..<100))
        let banks = try Self.layers.map { layer -> ConceptBank in
            let extractor = try PFVExtractor(model: model, layer: layer)
            var sampler = try ContributionSampler(layer: extractor.geometry, perImage: .count(8), seed: 0)
            try sampler.add(extractor.readout(learn))
            let pfvs = try Matrix(sampler.samples.matrix)
            return try ConceptLearner.learn(pfvs: pfvs, k: min(32, extractor.geometry.channels), method: method, layer: layer)
        }
        let test = all.images.slice(batch: 100..<130)
        let logitsName = model.outputNames[0]
        let values = try model.forward(test, keep: Set(Self.layers))
        let geometries = try Self.layers.map { try LayerGeometry(model: model, layer: $0) }
        let codes = try Self.layers.indices.map {
            try banks[$0].encode(activations: #require(values[Self.layers[$0]]), geometry: geometries[$0]).data
        }
        let quadrature = try Quadrature(method: .gaussLegendre, steps: TraceConfiguration.defaultSteps)
        // The GIG computations of a trace: layer i → i+1, and every layer → the classes.
        let computations: [(Int, Int?)] = [(0, 1), (1, 2), (0, nil), (1, nil), (2, nil)]
        var missing = [Double](repeating: 0, count: 30), scale = [Double](repeating: 0, count: 30)
        for (i, next) in computations {
            let gig = try GIGComputation(
                subnetwork: model.subnetwork(from: Self.layers[i], to: next.map { Self.layers[$0] } ?? logitsName), source: banks[i],
                target: next.map { .concepts(banks[$0]) } ?? .classes(count: 10), quadrature: quadrature)
            let target = try #require(values[next.map { Self.layers[$0] } ?? logitsName])
            for n in 0..<30 {
                let real = try target.slice(batch: n..<(n + 1)).reshaped(Array(target.shape.dropFirst()))
                let r = try gig.compute(sourceCodes: Self.image(codes[i], n, of: 30),
                                        realTarget: real, targetCodes: next.map { Self.image(codes[$0], n, of: 30) })
                #expect(r.activeTargets.contains(true))
                // Σ_r |Σ_q A(q→r) − Δg_r| and Σ_r |Δg_r|, from the edges and the end-point forward passes.
                for t in 0..<r.targetCount where r.activeTargets[t] {
                    let sum = (0..<r.sourceCount).reduce(0.0) { $0 + Double(r.relevance[$1 * r.targetCount + t]) }
                    missing[n] += abs(sum - r.delta[t])
                    scale[n] += abs(r.delta[t])
                }
            }
        }
        let errors = zip(missing, scale).map { $1 > 0 ? $0 / $1 : 0 }
        #expect(errors.allSatisfy(\.isFinite) && scale.allSatisfy { $0 > 0 })
        let median = errors.sorted()[errors.count / 2]
        #expect(median < 0.01, "median completeness error \(median) with \(method) banks at \(TraceConfiguration.defaultSteps) steps")
    }

    /// Image n's rows of an image-major (N·P)×K code matrix.
    static func image(_ codes: [Float], _ n: Int, of count: Int) -> [Float] {
        let size = codes.count / count
        return Array(codes[(n * size)..<((n + 1) * size)])
    }
}
