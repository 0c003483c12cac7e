import Foundation
import TestSupport
import Testing
@testable import Core
@testable import GIGTrace

/// Class and layer names with markup and control characters (issue 12): every export format stays
/// valid for an independent parser — Python's strict XML 1.0 parser for GraphML, `json` for JSON,
/// Graphviz for DOT — and the names survive (XML-forbidden controls as U+FFFD).
@Suite("Export hostile names")
struct ExportHostileNamesTests {
    static let hostile = ["a&b<c>\u{01}", "tab\there\u{0B}vt", "line\nbreak\r\u{1F}", "quote\"'\\", "\u{FFFF}x"]

    func exported() throws -> ExportGraph {
        let layout = TraceLayout(layers: [.init(name: "L\u{02}<0>&", conceptCount: 2, hasMeanNode: false),
                                          .init(name: "L1\u{7F}\"", conceptCount: 2, hasMeanNode: false)],
                                 classNames: Self.hostile)
        let codes = LayerCodes(positionCount: 1, codeSums: [1, 1], activePositions: [1, 1], topPFVs: [[], []])
        let trace = ImageTrace(
            index: 0, label: 1, prediction: 0,
            layerEdges: [EdgeMatrix(rows: 2, columns: 2, values: [1, -2, 3, 4])], targetActive: [[true, true]],
            classEdges: [EdgeMatrix(rows: 2, columns: 5, values: (0..<10).map(Float.init)),
                         EdgeMatrix(rows: 2, columns: 5, values: (0..<10).map { Float($0) + 1 })],
            layerCodes: [codes, codes], completenessError: 0, reconstructionGap: 0)
        var graph = ConceptGraph(layout: layout)
        try graph.add(trace)
        return ExportGraph(graph: graph, modelSHA256: "x", options: GraphExportOptions())
    }

    @Test("GraphML parses as XML 1.0 and keeps every name, controls replaced")
    func graphML() throws {
        let folder = try temporaryFolder()
        try Data(try exported().graphML().utf8).write(to: URL(fileURLWithPath: folder + "/g.graphml"))
        let names = try runPython("""
            import json, sys
            import xml.etree.ElementTree as ET
            ns = {'g': 'http://graphml.graphdrawing.org/xmlns'}
            root = ET.parse(sys.argv[1]).getroot()
            names = [d.text for d in root.iter('{http://graphml.graphdrawing.org/xmlns}data') if d.get('key') == 'n_name']
            print(json.dumps(names))
            """, arguments: [folder + "/g.graphml"])
        let parsed = try JSONDecoder().decode([String].self, from: Data(names.utf8))
        let expected = ["a&b<c>\u{FFFD}", "tab\there\u{FFFD}vt", "line\nbreak\r\u{FFFD}", "quote\"'\\", "\u{FFFD}x"]
        for name in expected { #expect(parsed.contains(name), "\(name.debugDescription) not among \(parsed)") }
    }

    @Test("JSON parses and keeps every name exactly")
    func json() throws {
        let text = try exported().json()
        let names = try runPython("""
            import json, sys
            g = json.loads(sys.stdin.read() if len(sys.argv) < 2 else open(sys.argv[1]).read())
            print(json.dumps([n['name'] for n in g['nodes']]))
            """, arguments: [try write(text, "g.json")])
        let parsed = try JSONDecoder().decode([String].self, from: Data(names.utf8))
        for name in Self.hostile { #expect(parsed.contains(name), "\(name.debugDescription) not among \(parsed)") }
    }

    @Test("Graphviz accepts the DOT file")
    func dot() throws {
        let path = try write(try exported().dot(), "g.dot")
        let result = try run(["dot", "-Tsvg", "-o", path + ".svg", path])
        #expect(result.status == 0, "\(result.stderr)")
    }

    func write(_ text: String, _ name: String) throws -> String {
        let path = try temporaryFolder() + "/" + name
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }
}
