import Foundation
import Testing
import CNN
@testable import Core
@testable import GIGTrace

@Suite("Queries")
struct QueryTests {
    @Test("concept report ranks parents and children by |mean| with statistics from the traces")
    func conceptReport() throws {
        let traces = (0..<10).map(Synthetic.trace)
        var graph = ConceptGraph(layout: Synthetic.layout)
        for t in traces { try graph.add(t) }
        let report = ConceptReport(graph: graph, layer: 1, index: 2)
        #expect(report.name == "stage2:2")
        let parentMeans = (0..<4).map { q in traces.map { Double($0.layerEdges[0][q, 2]) }.reduce(0, +) / 10 }
        let expectedOrder = (0..<4).sorted { abs(parentMeans[$0]) > abs(parentMeans[$1]) }
        #expect(report.parents.map(\.index) == expectedOrder)
        #expect(report.parents.first?.name == Synthetic.layout.nodeName(layer: 0, index: expectedOrder[0]))
        #expect(abs((report.parents.first?.statistics.mean ?? 0) - parentMeans[expectedOrder[0]]) < 1e-9)
        #expect(report.children.count == 3)
        #expect(report.topClasses.map(\.name).sorted() == Synthetic.classNames.sorted())
        let text = report.table()
        #expect(text.contains("parents:") && text.contains("stage1:mean") || text.contains("stage1:"))
    }

    @Test("layout parses concepts, classes and layers by name or index, with helpful errors")
    func parsing() throws {
        let layout = Synthetic.layout
        #expect(try layout.node("stage2:3") == (1, 3))
        #expect(try layout.node("0:mean") == (0, 3))
        #expect(try layout.classIndex("dog") == 1)
        #expect(try layout.classIndex("2") == 2)
        let e = #expect(throws: TraceError.self) { try layout.classIndex("fish") }
        #expect(e?.description == "unknown class 'fish'; valid classes: 0=cat, 1=dog, 2=bird")
        #expect(throws: TraceError.self) { try layout.node("stage2:4") }
        #expect(throws: ModelError.self) { try layout.node("stage9:0") }
        #expect(throws: TraceError.self) { try layout.node("stage2") }
    }

    @Test("image report and summary read the per-image rows")
    func imageAndSummary() throws {
        let folder = try temporaryFolder()
        let path = folder + "/t.sqlite"
        try writeTrace(path, images: Array(0..<9))
        let reader = try TraceReader.open(path)
        let report = try ImageReport(record: try reader.image(4), layout: reader.layout)
        let trace = Synthetic.trace(4)
        #expect(report.label == Synthetic.classNames[trace.label])
        let strongest = trace.layerEdges.flatMap(\.values).map { abs(Double($0)) }
            + trace.classEdges.flatMap(\.values).map { abs(Double($0)) }
        #expect(abs(abs(report.edges[0].value) - (strongest.max() ?? 0)) < 1e-6)
        let expectedTop = strongest.filter { $0 != 0 }.sorted(by: >).prefix(32)
        #expect(report.edges.map { abs($0.value) } == Array(expectedTop))
        let summary = try TraceSummary(reader: reader)
        #expect(summary.imagesTraced == 9)
        // completeness errors are (n mod 7)/100 for n = 0…8: 0,1,2,3,4,5,6,0,1 → median 2, worst 6.
        #expect(abs(summary.completenessMedian - 0.02) < 1e-12)
        #expect(abs(summary.completenessWorst - 0.06) < 1e-12)
        #expect(summary.layers.map(\.r2) == [0.9, 0.9, 0.9])
        #expect(summary.table().contains("stage3"))
    }
}
