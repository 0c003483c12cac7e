import ArgumentParser
import Foundation
import GIGTrace
import Testing
@testable import CLI
@testable import Concepts
@testable import PFV

/// `merge`, `query` and `export` end to end, through their argument parsing, on small traces.
@Suite struct GraphCommandTests {
    let dir: String
    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("graph-cli-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    /// Two layers (2 and 3 concepts), two classes; image n has edges n+1 and n−1 so sums are known.
    func header(shard: Int) -> TraceHeader {
        return TraceHeader(
            model: ModelIdentity(sha256: "feed", path: "m.onnx", inputShape: [1, 4, 4], classNames: ["even", "odd"]),
            preprocessingJSON: "{}",
            settings: RunSettings(layers: ["a", "b"], conceptMethod: "nmf", conceptsPerLayer: [2, 3], steps: 8,
                                  quadrature: "gausslegendre", seed: 1, shardIndex: shard, shardCount: 2,
                                  datasetPath: "d", datasetCount: 6),
            banks: [unitBank("a", 2), unitBank("b", 3)])
    }

    func trace(_ n: Int) -> ImageTrace {
        let v = Float(n + 1)
        let codes = { (k: Int) in
            LayerCodes(positionCount: 4, codeSums: Array(repeating: v, count: k), activePositions: Array(repeating: 1, count: k),
                       topPFVs: (0..<k).map { _ in [ConceptExemplar(image: n, h: 0, w: 1, code: v, box: PatchBox(x0: 0, y0: 0, x1: 2, y1: 2))] })
        }
        return ImageTrace(index: n, label: n % 2, prediction: n % 2,
                          layerEdges: [EdgeMatrix(rows: 2, columns: 3, values: [v, 1, -v, 2, v, 1])],
                          targetActive: [[true, true, true]],
                          classEdges: [EdgeMatrix(rows: 2, columns: 2, values: [v, 1, 1, v]),
                                       EdgeMatrix(rows: 3, columns: 2, values: [v, 0, 0, v, 1, 1])],
                          layerCodes: [codes(2), codes(3)], completenessError: 0.01 * Double(n), reconstructionGap: 0)
    }

    func writeShard(_ path: String, shard: Int, images: [Int]) throws {
        let writer = try TraceWriter.create(at: path, header: header(shard: shard))
        for n in images { try writer.add(trace(n)) }
        try writer.finish()
    }

    @Test func mergeThenExportAndQuery() throws {
        try writeShard("\(dir)/s0.sqlite", shard: 0, images: [0, 2, 4])
        try writeShard("\(dir)/s1.sqlite", shard: 1, images: [1, 3, 5])
        let merge = try MergeCommand.parse(["\(dir)/all.sqlite", "\(dir)/s0.sqlite", "\(dir)/s1.sqlite", "--quiet"])
        try merge.run()
        let reader = try TraceReader.open("\(dir)/all.sqlite")
        #expect(reader.graph.imageCount == 6)
        // Edge a:0 → b:0 has value n+1 in image n: mean over 0…5 = 3.5.
        #expect(abs(reader.graph.layerEdge(layer: 0, source: 0, target: 0).mean - 3.5) < 1e-12)

        // Merging again without --force is refused; the existing file stays.
        let again = try MergeCommand.parse(["\(dir)/all.sqlite", "\(dir)/s0.sqlite", "--quiet"])
        #expect(throws: ExitCode.self) { try again.run() }
        #expect(try TraceReader.open("\(dir)/all.sqlite").graph.imageCount == 6)

        for format in ["dot", "json", "graphml"] {
            let export = try ExportCommand.parse(["\(dir)/all.sqlite", "--format", format, "--class", "odd",
                                                  "--top-k", "2", "--out", "\(dir)/g.\(format)"])
            try export.run()
            #expect(FileManager.default.fileExists(atPath: "\(dir)/g.\(format)"))
        }
        let dot = try String(contentsOfFile: "\(dir)/g.dot", encoding: .utf8)
        #expect(dot.contains("C1 [label=\"odd\""))
        #expect(!dot.contains("C0 "))

        let badClass = try QueryCommand.parse(["\(dir)/all.sqlite", "pathways", "--class", "prime"])
        #expect(throws: ExitCode.self) { try badClass.run() }
        let summary = try QueryCommand.parse(["\(dir)/all.sqlite", "summary", "--json"])
        try summary.run()
        #expect(throws: (any Error).self) { try QueryCommand.parse(["\(dir)/all.sqlite", "graph"]) }
    }
}
