import Foundation
import FoundationXML
import Testing
@testable import Core
@testable import GIGTrace

#if canImport(FoundationXML)
#endif

/// Runs a program; returns its exit status and standard error.
func run(_ arguments: [String], in folder: String? = nil) throws -> (status: Int32, stderr: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    if let folder { process.currentDirectoryURL = URL(fileURLWithPath: folder) }
    let errors = Pipe()
    process.standardError = errors
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    let data = errors.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// Writes a real 1×1 PNG for every patch.
struct OnePixelPatchWriter: ExemplarPatchWriter {
    static let png = Data(base64Encoded:
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==") ?? Data()
    func writePatch(_ exemplar: ConceptExemplar, layer: Int, index: Int, to path: String) throws {
        try Self.png.write(to: URL(fileURLWithPath: path))
    }
}

@Suite("Export")
struct ExportTests {
    let schema = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("schemas/graph.schema.json").path

    func trace() throws -> TraceReader {
        let folder = try temporaryFolder()
        try writeTrace(folder + "/t.sqlite", images: Array(0..<12))
        return try TraceReader.open(folder + "/t.sqlite")
    }

    static let optionSets: [GraphExportOptions] = [
        GraphExportOptions(),
        GraphExportOptions(classIndex: 1, topK: 2),
        GraphExportOptions(topK: 1, minWeight: 0.2, group: .label(2)),
        GraphExportOptions(significantOnly: true),
    ]

    @Test("dot -Tsvg accepts every DOT file the exporter writes, with and without patches")
    func dotAccepted() throws {
        let reader = try trace()
        let folder = try temporaryFolder()
        for (i, options) in Self.optionSets.enumerated() {
            for patches in [false, true] {
                let out = folder + "/g\(i)\(patches).dot"
                let graph = try GraphExporter.export(reader, format: .dot, options: options, output: out,
                                                     patchesFolder: patches ? folder + "/patches\(i)" : nil,
                                                     patchWriter: OnePixelPatchWriter())
                // Patch paths are relative to the DOT file, so dot runs in its folder.
                let result = try run(["dot", "-Tsvg", "-o", out + ".svg", out], in: folder)
                #expect(result.status == 0, "dot rejected \(out): \(result.stderr)")
                #expect(result.stderr.isEmpty, "dot warned on \(out): \(result.stderr)")
                let text = try String(contentsOfFile: out, encoding: .utf8)
                #expect(text.contains("rank=same"))
                if patches {
                    let concepts = graph.nodes.filter { $0.layer != nil && !$0.exemplars.isEmpty }
                    #expect(!concepts.isEmpty)
                    for n in concepts {
                        #expect(n.image == "patches\(i)/\(n.id).png")
                        #expect(text.contains("image=\"patches\(i)/\(n.id).png\""))
                        #expect(FileManager.default.fileExists(atPath: folder + "/patches\(i)/\(n.id).png"))
                    }
                }
            }
        }
    }

    @Test("--class keeps only edges on routes into that class")
    func classSubgraph() throws {
        let reader = try trace()
        let graph = ExportGraph(graph: reader.graph, modelSHA256: "x", options: GraphExportOptions(classIndex: 1, topK: 2))
        let targets = Set(graph.edges.map(\.target))
        #expect(graph.nodes.filter { $0.layer == nil }.map(\.name) == ["dog"])
        // every edge ends at the class or at a node that itself has an outgoing edge
        let sources = Set(graph.edges.map(\.source))
        for e in graph.edges { #expect(e.target == "C1" || sources.contains(e.target)) }
        // top-2 per target: no target has more than 2 incoming edges
        for t in targets { #expect(graph.edges.filter { $0.target == t }.count <= 2) }
        #expect(graph.edges.contains { $0.target == "C1" })
    }

    @Test("JSON output validates against schemas/graph.schema.json")
    func jsonValidates() throws {
        let reader = try trace()
        let folder = try temporaryFolder()
        for (i, options) in Self.optionSets.enumerated() {
            let out = folder + "/g\(i).json"
            try GraphExporter.export(reader, format: .json, options: options, output: out,
                                     patchesFolder: i == 0 ? folder + "/p" : nil, patchWriter: OnePixelPatchWriter())
            let script = """
                import json, sys, jsonschema
                jsonschema.validate(json.load(open(sys.argv[2])), json.load(open(sys.argv[1])))
                """
            let result = try run(["python3", "-c", script, schema, out])
            #expect(result.status == 0, "\(out): \(result.stderr)")
        }
        // and the schema does reject a broken document
        let broken = folder + "/broken.json"
        try Data(#"{"format": "gigtrace-concept-graph", "version": 1}"#.utf8).write(to: URL(fileURLWithPath: broken))
        let result = try run(["python3", "-c", "import json,sys,jsonschema; jsonschema.validate(json.load(open(sys.argv[2])), json.load(open(sys.argv[1])))", schema, broken])
        #expect(result.status != 0)
    }

    @Test("GraphML output is well-formed XML with one element per node and edge")
    func graphMLWellFormed() throws {
        let reader = try trace()
        let folder = try temporaryFolder()
        let out = folder + "/g.graphml"
        let graph = try GraphExporter.export(reader, format: .graphml, options: GraphExportOptions(topK: 2), output: out)
        let counter = ElementCounter()
        let parser = XMLParser(data: try Data(contentsOf: URL(fileURLWithPath: out)))
        parser.delegate = counter
        #expect(parser.parse(), "\(parser.parserError.map { "\($0)" } ?? "")")
        #expect(counter.counts["node"] == graph.nodes.count)
        #expect(counter.counts["edge"] == graph.edges.count)
    }

    @Test("an existing export output is refused without force")
    func existingOutput() throws {
        let reader = try trace()
        let folder = try temporaryFolder()
        let out = folder + "/g.dot"
        try GraphExporter.export(reader, format: .dot, options: GraphExportOptions(), output: out)
        #expect(throws: InputError.self) {
            try GraphExporter.export(reader, format: .dot, options: GraphExportOptions(), output: out)
        }
        try GraphExporter.export(reader, format: .dot, options: GraphExportOptions(topK: 1), output: out, force: true)
    }
}

final class ElementCounter: NSObject, XMLParserDelegate {
    var counts: [String: Int] = [:]
    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) {
        counts[name, default: 0] += 1
    }
}

@Suite("Export escaping")
struct ExportEscapingTests {
    @Test("names with quotes, backslashes and markup survive DOT and GraphML")
    func awkwardNames() throws {
        let layout = TraceLayout(layers: [.init(name: #"block "1"\a"#, conceptCount: 2, hasMeanNode: false),
                                          .init(name: "<b>&", conceptCount: 2, hasMeanNode: true)],
                                 classNames: [#"say "hi""#, "a&b<c>"])
        let codes0 = LayerCodes(positionCount: 1, codeSums: [1, 1], activePositions: [1, 1], topPFVs: [[], []])
        let codes1 = LayerCodes(positionCount: 1, codeSums: [1, 1, 1], activePositions: [1, 1, 1], topPFVs: [[], [], []])
        let trace = ImageTrace(
            index: 0, label: 1, prediction: 0,
            layerEdges: [EdgeMatrix(rows: 2, columns: 2, values: [1, -2, 3, 4])], targetActive: [[true, true]],
            classEdges: [EdgeMatrix(rows: 2, columns: 2, values: [1, 1, 1, 1]),
                         EdgeMatrix(rows: 3, columns: 2, values: [1, -1, 2, 2, 0.5, 3])],
            layerCodes: [codes0, codes1], completenessError: 0, reconstructionGap: 0)
        var graph = ConceptGraph(layout: layout)
        try graph.add(trace)
        let exported = ExportGraph(graph: graph, modelSHA256: "x", options: GraphExportOptions())
        #expect(exported.edges.count == 4 + 6)
        let folder = try temporaryFolder()
        try Data(exported.dot().utf8).write(to: URL(fileURLWithPath: folder + "/g.dot"))
        let result = try run(["dot", "-Tsvg", "-o", folder + "/g.svg", folder + "/g.dot"])
        #expect(result.status == 0, "\(result.stderr)")
        let parser = XMLParser(data: Data(exported.graphML().utf8))
        let counter = ElementCounter()
        parser.delegate = counter
        #expect(parser.parse())
        #expect(counter.counts["node"] == exported.nodes.count)
        let names = try String(contentsOfFile: folder + "/g.svg", encoding: .utf8)
        #expect(names.contains("&lt;b&gt;&amp;:mean"))
    }
}
