import Foundation
import Testing
@testable import CNN
@testable import Core
@testable import GIGTrace

@Suite("Concept graph aggregates")
struct ConceptGraphTests {
    @Test("edge sums, counts, per-class sums and node sums equal a direct computation")
    func aggregatesMatchDirectComputation() throws {
        let traces = (0..<12).map(Synthetic.trace)
        var graph = ConceptGraph(layout: Synthetic.layout, exemplarLimit: 3)
        for t in traces { try graph.add(t) }

        // Edge stage1:2 → stage2:1, all images and images labelled 1.
        let values = traces.map { Double($0.layerEdges[0][2, 1]) }
        let labelled = traces.filter { $0.label == 1 }.map { Double($0.layerEdges[0][2, 1]) }
        let all = graph.layerEdges[0].all
        let i = 2 * all.columns + 1
        #expect(abs(all.sum[i] - values.reduce(0, +)) < 1e-9)
        #expect(abs(all.sumOfSquares[i] - values.map { $0 * $0 }.reduce(0, +)) < 1e-9)
        #expect(abs(all.sumOfAbs[i] - values.map(abs).reduce(0, +)) < 1e-9)
        #expect(all.activeCount[i] == values.filter { $0 != 0 }.count)
        #expect(abs(graph.layerEdges[0].block(.label(1)).sum[i] - labelled.reduce(0, +)) < 1e-9)
        #expect(graph.groupSize(.label(1)) == labelled.count)

        // Concept → class edge stage3:0 → class 2 over images predicted 2 (per class, only the
        // class's own column is kept: other classes read as empty).
        let predicted = traces.filter { $0.prediction == 2 }.map { Double($0.classEdges[2][0, 2]) }
        let stats = graph.classEdge(layer: 2, source: 0, classIndex: 2, group: .prediction(2))
        #expect(graph.classEdge(layer: 2, source: 0, classIndex: 1, group: .prediction(2)).activeCount == 0)
        #expect(graph.classEdges[2].byPrediction[2]?.columns == 1)
        let mean = predicted.reduce(0, +) / Double(predicted.count)
        let sd = (predicted.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(predicted.count - 1)).squareRoot()
        #expect(abs(stats.mean - mean) < 1e-9)
        #expect(abs(stats.std - sd) < 1e-9)
        let t = EdgeStatistics.tQuantile975(degreesOfFreedom: predicted.count - 1)
        #expect(abs(stats.ciHigh - (mean + t * sd / Double(predicted.count).squareRoot())) < 1e-9)

        // Node stage2:3: images active, positions, code sum.
        let codes = traces.map { $0.layerCodes[1] }
        let node = graph.nodes[1][3]
        #expect(node.imagesActive == codes.filter { $0.activePositions[3] > 0 }.count)
        #expect(node.positionsActive == codes.map { $0.activePositions[3] }.reduce(0, +))
        #expect(node.positionsSeen == 16 * traces.count)
        #expect(abs(node.codeSum - codes.map { Double($0.codeSums[3]) }.reduce(0, +)) < 1e-5)

        // Exemplars: the top 3 of every PFV offered for stage1:mean (index 3).
        let offered = traces.flatMap { $0.layerCodes[0].topPFVs[3] }.sorted { $0.code > $1.code }
        #expect(graph.exemplars[0][3] == Array(offered.prefix(3)))
    }

    @Test("t quantiles match published values and approach the normal one")
    func tQuantiles() {
        #expect(abs(EdgeStatistics.tQuantile975(degreesOfFreedom: 1) - 12.7062) < 1e-3)
        #expect(abs(EdgeStatistics.tQuantile975(degreesOfFreedom: 10) - 2.2281) < 1e-3)
        #expect(abs(EdgeStatistics.tQuantile975(degreesOfFreedom: 60) - 2.0003) < 1e-3)
        #expect(abs(EdgeStatistics.tQuantile975(degreesOfFreedom: 120) - 1.9799) < 1e-3)
        #expect(abs(EdgeStatistics.tQuantile975(degreesOfFreedom: 100_000) - 1.96) < 1e-3)
    }

    @Test("significance: a constant positive edge is significant, a symmetric one is not")
    func significance() {
        let constant = EdgeStatistics(sum: 10, sumOfSquares: 10 * 1.0001, sumOfAbs: 10, activeCount: 10, images: 10)
        #expect(constant.isSignificant)
        let symmetric = EdgeStatistics(sum: 0, sumOfSquares: 10, sumOfAbs: 10, activeCount: 10, images: 10)
        #expect(!symmetric.isSignificant)
        let single = EdgeStatistics(sum: 5, sumOfSquares: 25, sumOfAbs: 5, activeCount: 1, images: 1)
        #expect(!single.isSignificant)
    }

    @Test("a trace with the wrong shape is refused naming the image")
    func shapeMismatch() {
        var graph = ConceptGraph(layout: Synthetic.layout)
        var bad = Synthetic.trace(3)
        bad.layerEdges[1] = EdgeMatrix(rows: 2, columns: 2, values: [1, 2, 3, 4])
        #expect(throws: TraceError.self) { try graph.add(bad) }
        var badLabel = Synthetic.trace(4)
        badLabel.label = 9
        #expect(throws: TraceError.self) { try graph.add(badLabel) }
        #expect(graph.imageCount == 0)
    }
}
