import Foundation
import Testing
@testable import Core
@testable import Datasets
@testable import GIGTrace
import TestSupport

/// The edges a trace stores equal an independent computation (issue 15): Tests/Fixtures/trace_edges
/// holds a 4-image demo trace (stage 2 and 3, K = 4 k-means, error node on, 8 Gauss–Legendre steps)
/// and, made from its stored banks by tools/make_trace_edge_fixture.py with PyTorch + Captum (own
/// activations, own Lasso codes, own masks, the error node as an IG input), each image's edges into
/// its predicted class from both layers and into the stage-3 concepts, for both concept targets
/// (the projection, and the coefficient target's u_S(y) = G_S⁻¹(V_S y − λ‖y‖·1) solved per position
/// in PyTorch). A new trace of the same images with those banks must store the same numbers (1e-3 of
/// each image's largest edge). This checks the wiring of codes, masks, targets, error node and the
/// per-image rows end to end.
@Suite(.serialized) struct TraceEdgeReferenceTests {
    static let folder = TestPaths.fixture("trace_edges")

    @Test(arguments: [(ConceptTarget.projection, "next_edges_stage2.npy"), (.coefficient, "next_edges_coefficient_stage2.npy")])
    func storedEdgesEqualTheCaptumReference(target: ConceptTarget, nextEdgesFile: String) throws {
        let dir = try makeTemporaryFolder("trace-edges")
        let spec = DatasetSpec(data: TestPaths.fashionMNISTTestImages, preprocessing: Preprocessing(mean: [0.2860], std: [0.3530]),
                               selection: DatasetSelection(limit: 4))
        var c = TraceConfiguration(modelPath: TestPaths.demoModel, dataset: spec, output: "\(dir)/t.sqlite")
        c.layers = ["/stage2/relu/Relu_output_0", "/stage3/relu/Relu_output_0"]
        c.conceptBankPaths = ["\(Self.folder)/trace.sqlite"]
        c.steps = 8
        c.errorNode = true
        c.conceptTarget = target
        c.threads = 1
        c.prefetchThreads = 0
        _ = try TraceRun(c).run()
        let images = try TraceReader.open(c.output).images()
        let predictions = try Npy.read(path: "\(Self.folder)/predictions.npy").integers(path: "predictions.npy")
        #expect(images.map(\.prediction) == predictions)
        let rows = try TraceDatabase.open(c.output).readImageLayers()
        #expect(rows.count == 8)
        let class2 = try Npy.read(path: "\(Self.folder)/class_relevance_stage2.npy").floatTensor(path: "class_relevance_stage2.npy")
        let class3 = try Npy.read(path: "\(Self.folder)/class_relevance_stage3.npy").floatTensor(path: "class_relevance_stage3.npy")
        let next2 = try Npy.read(path: "\(Self.folder)/\(nextEdgesFile)").floatTensor(path: nextEdgesFile)
        #expect(class2.shape == [4, 5] && class3.shape == [4, 5] && next2.shape == [4, 5, 4])
        func close(_ ours: [Float], _ reference: ArraySlice<Float>, _ what: String) {
            let scale = reference.map { abs($0) }.max() ?? 0
            let worst = zip(ours, reference).map { abs($0 - $1) }.max() ?? .infinity
            #expect(ours.count == reference.count && scale > 0 && worst <= 1e-3 * scale, "\(what): worst \(worst), scale \(scale)")
        }
        for row in rows {
            let n = row.image
            if row.level == 0 {
                close(row.classRelevance, class2.data[(n * 5)..<((n + 1) * 5)], "image \(n) stage2 → class")
                close(row.nextEdges, next2.data[(n * 20)..<((n + 1) * 20)], "image \(n) stage2 → stage3")
            } else {
                close(row.classRelevance, class3.data[(n * 5)..<((n + 1) * 5)], "image \(n) stage3 → class")
                #expect(row.nextEdges.isEmpty)
            }
        }
    }
}
