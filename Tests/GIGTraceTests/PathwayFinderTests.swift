import Foundation
import Testing
@testable import GIGTrace

@Suite("Pathways")
struct PathwayFinderTests {
    /// Brute force over every path, with the per-target normalisation computed here from the
    /// traces directly (not from the graph's sums).
    func bruteForce(_ traces: [ImageTrace], classIndex: Int) -> [(path: [Int], score: Double)] {
        let layout = Synthetic.layout
        let n = Double(traces.count)
        func weights(_ matrices: [EdgeMatrix]) -> [[Double]] {
            let rows = matrices[0].rows, columns = matrices[0].columns
            var mean = Array(repeating: Array(repeating: 0.0, count: columns), count: rows)
            for m in matrices { for s in 0..<rows { for t in 0..<columns { mean[s][t] += Double(m[s, t]) / n } } }
            var w = mean
            for t in 0..<columns {
                let total = (0..<rows).map { max(mean[$0][t], 0) }.reduce(0, +)
                for s in 0..<rows { w[s][t] = total > 0 ? max(mean[s][t], 0) / total : 0 }
            }
            return w
        }
        let w01 = weights(traces.map { $0.layerEdges[0] })
        let w12 = weights(traces.map { $0.layerEdges[1] })
        let w2c = weights(traces.map { $0.classEdges[2] })
        var all: [(path: [Int], score: Double)] = []
        for a in 0..<layout.layers[0].sourceCount {
            for b in 0..<layout.layers[1].conceptCount {
                for c in 0..<layout.layers[2].conceptCount {
                    let score = w01[a][b] * w12[b][c] * w2c[c][classIndex]
                    if score > 0 { all.append(([a, b, c], score)) }
                }
            }
        }
        return all.sorted { $0.score > $1.score }
    }

    @Test("the k best paths equal the best k of all enumerated paths", arguments: [0, 1, 2])
    func matchesEnumeration(classIndex: Int) throws {
        let traces = (0..<6).map(Synthetic.trace)
        var graph = ConceptGraph(layout: Synthetic.layout)
        for t in traces { try graph.add(t) }
        let expected = bruteForce(traces, classIndex: classIndex)
        #expect(expected.count >= 4)
        let found = PathwayFinder.best(in: graph, classIndex: classIndex, top: 8)
        #expect(found.count == min(8, expected.count))
        for (f, e) in zip(found, expected.prefix(8)) {
            #expect(f.steps.map(\.index) == e.path)
            #expect(abs(f.score - e.score) < 1e-12)
            #expect(abs(f.steps.dropFirst().map(\.weightIn).reduce(f.classWeight, *) - f.score) < 1e-12)
        }
        #expect(found.first?.steps.first?.exemplars == Array(graph.exemplars[0][found[0].steps[0].index].prefix(3)))
    }

    @Test("a hand-built graph: the only positive route wins and negative edges are never used")
    func handBuilt() throws {
        // Two layers with 2 concepts each, one class. Means: 0→0 = 3, 1→0 = 1, 0→1 = −2, 1→1 = 4;
        // concept→class: layer-1 concept 0 = 1, concept 1 = 3.
        let layout = TraceLayout(layers: [.init(name: "a", conceptCount: 2, hasMeanNode: false),
                                          .init(name: "b", conceptCount: 2, hasMeanNode: false)],
                                 classNames: ["only"])
        let codes = LayerCodes(positionCount: 1, codeSums: [1, 1], activePositions: [1, 1], topPFVs: [[], []])
        let trace = ImageTrace(
            index: 0, label: 0, prediction: 0,
            layerEdges: [EdgeMatrix(rows: 2, columns: 2, values: [3, -2, 1, 4])], targetActive: [[true, true]],
            classEdges: [EdgeMatrix(rows: 2, columns: 1, values: [0, 0]), EdgeMatrix(rows: 2, columns: 1, values: [1, 3])],
            layerCodes: [codes, codes], completenessError: 0, reconstructionGap: 0)
        var graph = ConceptGraph(layout: layout)
        try graph.add(trace)
        let paths = PathwayFinder.best(in: graph, classIndex: 0, top: 5)
        // Weights: into b0: a0 3/4, a1 1/4; into b1: a1 1 (a0 negative); into class: b0 1/4, b1 3/4.
        #expect(paths.map { $0.steps.map(\.name) } == [["a:1", "b:1"], ["a:0", "b:0"], ["a:1", "b:0"]])
        #expect(paths.map(\.score) == [0.75, 0.1875, 0.0625])
    }

    @Test("hiding insignificant edges removes paths through noisy edges")
    func significantOnly() throws {
        var graph = ConceptGraph(layout: Synthetic.layout)
        for n in 0..<6 { try graph.add(Synthetic.trace(n)) }
        let all = PathwayFinder.best(in: graph, classIndex: 0, top: 1000)
        let significant = PathwayFinder.best(in: graph, classIndex: 0, top: 1000, significantOnly: true)
        #expect(significant.count < all.count)
    }
}
