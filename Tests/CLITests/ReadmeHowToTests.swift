import Datasets
import Foundation
import GIGTrace
import ImageIO
import TestSupport
import Testing
@testable import CLI

/// README's two how-tos, run as README shows them:
/// - "How do I trace my model?": the `inspect` and `trace` commands (ImageNet preprocessing flags,
///   ResNet-18 layer names) on the committed torchvision-layout ResNet-18 exported at 3×224×224
///   (Tests/Fixtures/resnet18_small/legacy_224.onnx) and a tiny image folder. The export snippet
///   before it needs PyTorch and is run by tools/check_readme_export.py instead.
/// - "How do I use the results in Python?": the `export` commands, then README's Python snippets
///   (run by tools/readme_python_snippets.py), whose numbers are checked against gigtrace's own
///   reading of the same trace.
@Suite struct ReadmeHowToTests {
    static let readme = TestPaths.repository.appendingPathComponent("README.md").path
    static let model = TestPaths.fixture("resnet18_small") + "/legacy_224.onnx"
    /// Settings that keep the README's trace command small here; README's snippet sets none of them.
    static let smallRun = ["--limit", "4", "--concept-images", "4", "--k", "3", "--steps", "4",
                           "--batch-size", "2", "--threads", "1", "--prefetch-threads", "0", "--quiet"]

    /// README's snippet `name`: the fenced code block after the line `<!-- snippet NAME: ... -->`.
    static func snippet(_ name: String) throws -> String {
        let text = try String(contentsOfFile: readme, encoding: .utf8)
        let marker = try #require(text.range(of: "<!-- snippet \(name):"), "README.md has no snippet '\(name)'")
        let rest = text[marker.upperBound...]
        let open = try #require(rest.range(of: "```"))
        let body = try #require(rest[open.upperBound...].firstIndex(of: "\n"))
        let close = try #require(rest[body...].range(of: "\n```"))
        return String(rest[rest.index(after: body)..<close.lowerBound])
    }

    /// The `gigtrace` commands of a shell snippet as argument lists (after `gigtrace`), with
    /// backslash-continued lines joined and each word replaced through `paths` when listed there.
    /// README's commands use no quoting, so words are split at spaces.
    static func commands(_ snippet: String, paths: [String: String]) throws -> [[String]] {
        let lines = snippet.replacingOccurrences(of: "\\\n", with: " ").split(separator: "\n")
        return try lines.map { line in
            let words = line.split(separator: " ").map(String.init)
            try #require(words.first == "gigtrace", "README snippet line does not start with gigtrace: \(line)")
            return words.dropFirst().map { paths[$0] ?? $0 }
        }
    }

    /// An ImageFolder tree with two classes ("cat" = label 0, "dog" = label 1) of two RGB PNGs each,
    /// of other sizes than 224 so that `--resize 256 --crop 224` has work to do.
    static func writeImageFolder(_ root: String) throws {
        for (label, name) in ["cat", "dog"].enumerated() {
            try FileManager.default.createDirectory(atPath: root + "/" + name, withIntermediateDirectories: true)
            for (i, (width, height)) in [(300, 260), (250, 330)].enumerated() {
                var pixels = [UInt8](repeating: 0, count: width * height * 3)
                for y in 0..<height {
                    for x in 0..<width {
                        let p = (y * width + x) * 3
                        pixels[p] = UInt8((x * (label + 1) + 17 * i) & 255)
                        pixels[p + 1] = UInt8((y * (2 - label) + x / 3) & 255)
                        pixels[p + 2] = UInt8(((x ^ y) + 40 * i) & 255)
                    }
                }
                try PNGEncoder.write(width: width, height: height, channels: 3, pixels: pixels,
                                     to: "\(root)/\(name)/\(i).png")
            }
        }
    }

    /// Runs README's "trace-my-model" snippet in `dir` (the model is the committed 224×224 small
    /// ResNet-18, the data a tiny image folder) and returns the inspect report, the trace command's
    /// arguments and the trace's path.
    static func traceAsReadmeDoes(in dir: String) throws -> (inspect: String, trace: [String], out: String) {
        try writeImageFolder(dir + "/images")
        let out = dir + "/trace.sqlite"
        let paths = ["resnet18.onnx": model, "imagenet/val": dir + "/images", "resnet18.sqlite": out]
        let commands = try Self.commands(try snippet("trace-my-model"), paths: paths)
        try #require(commands.count == 2 && commands[0].first == "inspect" && commands[1].first == "trace",
                     "README's trace-my-model snippet: expected `gigtrace inspect` then `gigtrace trace`")
        let inspect = try InspectCommand.parse(Array(commands[0].dropFirst())).report()
        try TraceCommand.parse(Array(commands[1].dropFirst()) + smallRun).run()
        return (inspect, Array(commands[1].dropFirst()), out)
    }

    /// The value after `flag` in an argument list.
    static func value(_ flag: String, in arguments: [String]) throws -> String {
        let at = try #require(arguments.firstIndex(of: flag), "README's trace command has no \(flag)")
        return try #require(arguments.dropFirst(at + 1).first)
    }

    @Test func traceMyModel() throws {
        let dir = try makeTemporaryFolder("readme-trace")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (inspect, trace, out) = try Self.traceAsReadmeDoes(in: dir)

        // The layers README names are among those `inspect` suggests for a torchvision ResNet-18.
        let layers = try Self.value("--layers", in: trace).split(separator: ",").map(String.init)
        let suggested = try #require(inspect.components(separatedBy: "suggested trace layers:\n").last)
        for layer in layers { #expect(suggested.contains("  \(layer) ["), "inspect does not suggest \(layer):\n\(suggested)") }
        #expect(inspect.contains("input:  input [N, 3, 224, 224]"))

        // The trace ran with README's preprocessing and layers, on the folder's labels.
        let reader = try TraceReader.open(out)
        #expect(reader.complete && reader.graph.imageCount == 4)
        #expect(reader.header.settings.layers == layers)
        let spec = try DatasetSpec.parse(reader.header.preprocessingJSON, origin: out)
        #expect(spec.resize == 256 && spec.cropHeight == 224 && spec.cropWidth == 224)
        #expect(spec.mean == [0.485, 0.456, 0.406] && spec.std == [0.229, 0.224, 0.225])
        #expect(try reader.images().map(\.label).sorted() == [0, 0, 1, 1])
    }

    @Test func useResultsInPython() throws {
        let dir = try makeTemporaryFolder("readme-python")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (_, _, out) = try Self.traceAsReadmeDoes(in: dir)
        let paths = ["trace.sqlite": out, "graph.graphml": dir + "/graph.graphml", "graph.json": dir + "/graph.json"]
        for command in try Self.commands(try Self.snippet("export-graph"), paths: paths) {
            try #require(command.first == "export")
            try ExportCommand.parse(Array(command.dropFirst())).run()
        }
        let script = TestPaths.repository.appendingPathComponent("tools/readme_python_snippets.py").path
        let output = try runPython("import runpy, sys; sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')",
                                   arguments: [script, dir])
        let python = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])

        let reader = try TraceReader.open(out)
        let graph = reader.graph, layout = reader.layout
        #expect(python["images"] as? Int == graph.imageCount)
        #expect(python["layers"] as? [String] == reader.header.settings.layers)
        let concepts = try #require(python["first_image_concepts"] as? [[String: Any]])
        let stored = try reader.image(0).concepts
        #expect(concepts.count == stored.count && concepts.first?["index"] as? Int == stored.first?.index)

        // Mean and standard deviation from the stored sums, as README computes them, equal gigtrace's.
        func close(_ a: Double, _ b: Double) -> Bool { abs(a - b) <= 1e-9 * max(1, abs(b)) }
        let edges = try #require(python["edges"] as? [[Double]])
        var active = 0
        for l in 0..<(layout.layers.count - 1) {
            for s in 0..<layout.layers[l].sourceCount {
                for d in 0..<layout.layers[l + 1].conceptCount where graph.layerEdge(layer: l, source: s, target: d).activeCount > 0 {
                    active += 1
                }
            }
        }
        #expect(edges.count == active && active > 0)
        for e in edges {
            let stats = graph.layerEdge(layer: Int(e[0]), source: Int(e[1]), target: Int(e[2]))
            #expect(close(e[3], stats.mean) && close(e[4], stats.std), "edge \(e): gigtrace \(stats)")
        }
        let toClass0 = try #require(python["to_class0"] as? [[Double]])
        #expect(!toClass0.isEmpty)
        for e in toClass0 {
            let stats = graph.classEdge(layer: Int(e[0]), source: Int(e[1]), classIndex: 0, group: .label(0))
            #expect(close(e[2], stats.mean), "class edge \(e): gigtrace \(stats)")
        }
        let bank0 = try #require(python["bank0"] as? [[Double]])
        #expect(bank0.count == reader.header.banks[0].k)
        #expect(bank0.flatMap { $0 }.map(Float.init) == reader.header.banks[0].concepts.data)

        // networkx reads the GraphML export with the JSON export's nodes and edge means.
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/graph.json"))) as? [String: Any])
        let nodes = try #require(json["nodes"] as? [[String: Any]]), jsonEdges = try #require(json["edges"] as? [[String: Any]])
        var means = [String: Double]()
        for e in jsonEdges {
            let source = try #require(e["source"] as? String), target = try #require(e["target"] as? String)
            means[source + ">" + target] = try #require(e["mean"] as? Double)
        }
        #expect(python["graphml_nodes"] as? Int == nodes.count && python["json_nodes"] as? Int == nodes.count)
        #expect(python["json_edges"] as? Int == jsonEdges.count)
        let graphML = try #require(python["graphml_edges"] as? [[Any]])
        #expect(graphML.count == jsonEdges.count)
        for e in graphML {
            let key = "\(e[0])>\(e[1])", weight = try #require(e[2] as? Double)
            #expect(means[key].map { close(weight, $0) } == true, "GraphML edge \(key) weight \(weight), JSON \(String(describing: means[key]))")
        }
        let intoClass0 = jsonEdges.filter { $0["target"] as? String == "C0" }
            .compactMap { e in (e["source"] as? String).map { ($0, e["mean"] as? Double ?? .nan) } }
            .sorted { $0.1 > $1.1 }.prefix(3)
        let strongest = try #require(python["strongest_into_class0"] as? [[Any]])
        #expect(!intoClass0.isEmpty && strongest.map { $0[0] as? String } == intoClass0.map(\.0))
    }
}
