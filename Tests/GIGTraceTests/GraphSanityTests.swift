import Foundation
import TestSupport
import Testing
@testable import CNN
@testable import Core
@testable import GIGTrace

/// The graph sanity checks (METHOD §7, graph metrics): the Jaccard overlap of pathways on a hand
/// example, and on a real 12-image demo trace: retracing with the unmodified model reproduces the
/// trace's stored edges and correlates perfectly with itself, a fully randomized model does not.
/// (Spearman's ρ and Kendall's τ-b equal SciPy's with ties: MapMetricsTests.)
@Suite(.serialized) struct GraphSanityTests {
    static func pathway(_ indices: [Int], to c: Int) -> Pathway {
        Pathway(steps: indices.enumerated().map { Pathway.Step(layer: $0.offset, index: $0.element, name: "", weightIn: 1, exemplars: []) },
                classIndex: c, className: "\(c)", classWeight: 1, score: 1)
    }

    @Test func jaccardOfPathwaysByHand() {
        // Three layers, class 2. Original: 0→1→2, 0→1→3, 4→1→2; other: 0→1→2, 5→1→3.
        let a = [Self.pathway([0, 1, 2], to: 2), Self.pathway([0, 1, 3], to: 2), Self.pathway([4, 1, 2], to: 2)]
        let b = [Self.pathway([0, 1, 2], to: 2), Self.pathway([5, 1, 3], to: 2)]
        // Whole pathways: {012, 013, 412} vs {012, 513}: 1 shared of 4.
        #expect(GraphSanityCheck.jaccard(Set(a.map { $0.steps.map(\.index) }), Set(b.map { $0.steps.map(\.index) })) == 0.25)
        // Layer pair 0 → 1: {(0,1), (4,1)} vs {(0,1), (5,1)}: 1 of 3.
        let pair0 = (GraphSanityCheck.pathwayEdges(a, block: 0, layerCount: 3, classIndex: 2),
                     GraphSanityCheck.pathwayEdges(b, block: 0, layerCount: 3, classIndex: 2))
        #expect(pair0.0 == [[0, 1], [4, 1]] && GraphSanityCheck.jaccard(pair0.0, pair0.1) == 1.0 / 3)
        // Layer pair 1 → 2: {(1,2), (1,3)} both: 1.
        #expect(GraphSanityCheck.jaccard(GraphSanityCheck.pathwayEdges(a, block: 1, layerCount: 3, classIndex: 2),
                                         GraphSanityCheck.pathwayEdges(b, block: 1, layerCount: 3, classIndex: 2)) == 1)
        // Blocks: pairs 0, 1, then layers 0, 1, 2 → classes (2, 3, 4). Only the last layer's block is on a path:
        // {(2,c), (3,c)} both.
        #expect(GraphSanityCheck.pathwayEdges(a, block: 2, layerCount: 3, classIndex: 2).isEmpty)
        #expect(GraphSanityCheck.pathwayEdges(a, block: 4, layerCount: 3, classIndex: 2) == [[2, 2], [3, 2]])
        #expect(GraphSanityCheck.jaccard(Set<Int>(), Set<Int>()).isNaN)
        #expect(GraphSanityCheck.jaccard(Set([1]), Set([2])) == 0)
    }

    /// The graphs' perturbation filter: classes kept on every image, the mean probability not lower.
    @Test func meanProbabilityFilterByHand() {
        let reference: [(predicted: Int, probability: Double)] = [(2, 0.5), (4, 0.3)]
        // Image 0 falls by 0.01, image 1 rises by 0.02: the mean rises (kept), not every image (refused).
        #expect(MapSanityCheck.preserves(reference, [(2, 0.49), (4, 0.32)], filter: .meanOverImages))
        #expect(!MapSanityCheck.preserves(reference, [(2, 0.49), (4, 0.32)], filter: .everyImage))
        #expect(!MapSanityCheck.preserves(reference, [(2, 0.49), (4, 0.30)], filter: .meanOverImages))
        #expect(!MapSanityCheck.preserves(reference, [(3, 0.9), (4, 0.9)], filter: .meanOverImages))
    }

    @Test func retracingRandomizedModelsDecorrelatesTheGraph() throws {
        let dir = try makeTemporaryFolder("graph-sanity")
        let trace = try EvaluationTests.smallTrace(in: dir)
        let source = try TraceSource.open(trace)
        let model = try source.loadModel(threads: 1, foldBatchNorm: false)
        let check = try GraphSanityCheck(source: source, model: model, images: 6, batchSize: 6)
        #expect(check.imageIndices == Array(0..<6))
        let original = try check.graph(of: model)

        // The retrace is the trace pipeline: its sums equal the stored per-image edges of the same images
        // (the trace folded BatchNormalization into the convs, the retrace keeps it apart: rounding only).
        let stored = try source.reader.database.readImageLayers().filter { $0.image < 6 && $0.level == 0 }
        #expect(stored.count == 6)
        let storedSum = stored.reduce([Double](repeating: 0, count: stored[0].nextEdges.count)) { s, r in zip(s, r.nextEdges).map { $0 + Double($1) } }
        let retraced = original.layerEdges[0].all.sum
        #expect(retraced.count == storedSum.count)
        let scale = storedSum.map(abs).max() ?? 1
        for (x, y) in zip(retraced, storedSum) { #expect(abs(x - y) <= 1e-3 * scale, "\(x) vs stored \(y)") }

        // The unmodified model: every block correlates perfectly, every pathway is kept.
        let same = GraphSanityCheck.compare(original, try check.graph(of: model), topK: 5, check: "none", stage: "original")
        #expect(same.map(\.block) == ["\(EvaluationTests.stage2) → \(EvaluationTests.stage3)",
                                      "\(EvaluationTests.stage2) → classes", "\(EvaluationTests.stage3) → classes", "pathways"])
        for row in same.dropLast() { #expect(row.spearman == 1 && row.kendall == 1, "\(row.block)") }
        for row in same where row.jaccard.isFinite { #expect(row.jaccard == 1, "\(row.block)") }
        #expect(same.last?.jaccard == 1)

        // Every conv and linear layer re-initialised: the edges decorrelate and pathways change.
        var rng = SamplingRNG(seed: 3)
        let random = try model.randomizing(model.parameterLayers.map(\.node), rng: &rng)
        let rows = GraphSanityCheck.compare(original, try check.graph(of: random), topK: 5, check: "cascading", stage: "all")
        let rho = rows.dropLast().map(\.spearman)
        let meanRho = rho.filter(\.isFinite).reduce(0, +) / Double(max(1, rho.filter(\.isFinite).count))
        #expect(meanRho < 0.5, "Spearman per block after full randomization: \(rho)")
        #expect((rows.last?.jaccard ?? 1) < 0.5, "pathway Jaccard after full randomization: \(rows.last?.jaccard ?? .nan)")

        // A tiny perturbation (σ = 1e-4) keeps the graph.
        var noise = SamplingRNG(seed: 4)
        let perturbed = try model.perturbing(sigma: 1e-4, rng: &noise)
        let kept = GraphSanityCheck.compare(original, try check.graph(of: perturbed), topK: 5, check: "perturbation", stage: "model 0")
        for row in kept.dropLast() { #expect(row.spearman > 0.95, "\(row.block): \(row.spearman)") }
    }
}
