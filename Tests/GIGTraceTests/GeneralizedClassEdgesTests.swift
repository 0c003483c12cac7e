import Foundation
import Testing
import CNN
import Concepts
import Core
@testable import GIGTrace

/// Concept → class edges through a tree head (METHOD §9 within §4): the trace's GIG computations on
/// the demo CNN joined to a GradientBoosting head (tools/make_tree_fixtures.py).
@Suite struct GeneralizedClassEdgesTests {
    static let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/trees").path
    static let stage3 = "/stage3/relu/Relu_output_0"

    /// With the identity bank at stage 3 (every channel a concept, codes = activations), the
    /// class edges of an image sum to Δ probability (completeness from the model's own forward
    /// passes, under 1 %), while plain GIG on the same model gives all-zero edges (100 % error).
    @Test func classEdgesThroughTheHeadAreComplete() throws {
        let model = try Model.load(path: "\(Self.dir)/cnn_tree_head.onnx")
        #expect(model.hasTreeEnsembles)
        let bank = ConceptBank.identity(channels: 64, layer: Self.stage3)
        let quadrature = try Quadrature(method: .gaussLegendre, steps: 8)
        let gig = try GIGComputations(model: model, layers: ["/stage2/relu/Relu_output_0", Self.stage3],
                                      banks: [ConceptBank.identity(channels: 32, layer: "/stage2/relu/Relu_output_0"), bank], output: "probabilities",
                                      classes: 10, quadrature: quadrature, mode: .auto)
        #expect(gig.generalized.allSatisfy { $0 != nil })
        #expect(gig.joint == [false])
        let images = try Npy.read(path: "\(Self.dir)/cnn_tree_head_inputs.npy").floatTensor(path: "inputs")
        let x = images.slice(batch: 0..<2)
        let values = try model.forward(x, keep: [Self.stage3])
        let layer = try #require(values[Self.stage3]), probabilities = try #require(values["probabilities"])
        for n in 0..<2 {
            // Identity codes: P×K with codes[p·64 + c] = X[c, p].
            let positions = 49
            var codes = [Float](repeating: 0, count: positions * 64)
            for c in 0..<64 { for p in 0..<positions { codes[p * 64 + c] = layer.data[n * 64 * positions + c * positions + p] } }
            let real = Tensor(uncheckedShape: [10], data: Array(probabilities.data[(n * 10)..<((n + 1) * 10)]))
            let generalized = try #require(gig.generalized[1])
            let r = try gig.classes[1].computeGeneralized(generalized, sourceCodes: codes, realTarget: real)
            #expect(r.completenessError < 0.01, "image \(n): \(r.completenessError)")
            #expect(r.relevance.contains { abs($0) > 1e-4 })
            // Identity bank, exact codes: no reconstruction gap, so Δ is the real probability change.
            #expect(r.reconstructionGap < 1e-5)
            let plain = try gig.classes[1].compute(sourceCodes: codes, realTarget: real, targetCodes: nil)
            #expect(plain.relevance.allSatisfy { $0 == 0 })
            #expect(plain.completenessError > 0.99)
        }
    }

    @Test func plainModelsHaveNoGeneralizedComputations() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let model = try Model.load(path: root.appendingPathComponent("models/fashion-resnet/model.onnx").path)
        #expect(!model.hasTreeEnsembles)
        let gig = try GIGComputations(model: model, layers: [Self.stage3], banks: [ConceptBank.identity(channels: 64, layer: Self.stage3)],
                                      output: "logits", classes: 10, quadrature: try Quadrature(method: .gaussLegendre, steps: 4),
                                      mode: .auto)
        #expect(gig.generalized.allSatisfy { $0 == nil })
    }
}
