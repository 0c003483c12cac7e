import ArgumentParser
import Core
import Datasets
import Foundation
import GIGTrace
import PFV
import TestSupport
import Testing
@testable import CLI
@testable import Concepts

/// The HTML atlas checked from outside: html5lib parses every page (strict: one parse error
/// fails), every link resolves inside the folder, hostile names stay text in HTML, SVG, DOT and
/// GraphML, and Debian's chromium loads the pages without console errors
/// (Tests/Fixtures/atlas/check_atlas.py does the parsing and the browser runs).
@Suite(.serialized) struct AtlasCommandTests {
    static let checker = TestPaths.fixture("atlas/check_atlas.py")

    struct PageInfo: Decodable {
        var scripts: Int
        var eventAttributes: [String]
        var classes: [String: Int]
        var images: Int
    }

    struct PagesReport: Decodable {
        var problems: [String]
        var pages: [String: PageInfo]
        var text: [String: String]
    }

    struct BrowserPage: Decodable {
        var consoleErrors: [String]
        var variance: Double
        var dom: String
        var exit: [Int32]
    }

    static func runChecker(_ arguments: [String]) throws -> Data {
        let code = "import runpy, sys; sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"
        return Data(try runPython(code, arguments: [checker] + arguments).utf8)
    }

    static func checkPages(_ root: String, text pages: [String] = []) throws -> PagesReport {
        try JSONDecoder().decode(PagesReport.self, from: runChecker(["pages", root] + pages))
    }

    static func browse(_ root: String, screenshots: String, pages: [String]) throws -> [String: BrowserPage] {
        try JSONDecoder().decode([String: BrowserPage].self, from: runChecker(["browser", root, screenshots] + pages))
    }

    /// A real trace of the demo model (24 Fashion-MNIST images), its atlas with both graph
    /// layouts, checked by html5lib and in chromium; the screenshots land in
    /// $GIGTRACE_ATLAS_SCREENSHOTS when set (README's docs/atlas pictures).
    @Test func atlasOfADemoTraceIsValidLinkedAndRendersInChromium() throws {
        let dir = try makeTemporaryFolder("atlas-demo")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let trace = dir + "/trace.sqlite"
        try TraceCommand.parse(["--limit", "24", "--out", trace, "--quiet"]).run()
        let reader = try TraceReader.open(trace)
        let sneaker = try reader.layout.classIndex("Sneaker")

        for layout in ["builtin", "dot"] {
            let out = dir + "/atlas-" + layout
            try AtlasCommand.parse([trace, "--out", out, "--layout", layout, "--quiet", "--page-size", "7"]).run()
            let report = try Self.checkPages(out)
            #expect(report.problems.isEmpty, "\(report.problems.prefix(5))")
            // index, classes (2 pages of 7), 10 class pages, 3 layers' concept lists (16 per layer
            // → 3 pages each), 48 concepts and 3 error nodes (on by default), graph, images (4 pages),
            // 24 image pages.
            #expect(report.pages.count == 1 + 2 + 10 + 9 + 48 + 3 + 1 + 4 + 24, "\(report.pages.count) pages")
            for (page, info) in report.pages {
                #expect(info.eventAttributes.isEmpty, "\(page)")
                #expect(info.scripts == (page == "graph.html" ? 1 : 0), "\(page)")
            }
            // Concept pages: 8 exemplar figures (the trace keeps 8) of concepts that have them.
            let concept = try #require(report.pages["concept-L2-0.html"])
            #expect(concept.classes["figure.exemplar"] == min(8, reader.graph.exemplars[2][0].count))
            // The class page draws its pathways: one row each, a card per traced layer.
            let pathways = PathwayFinder.best(in: reader.graph, classIndex: sneaker, top: 5, group: .label(sneaker))
            let classPage = try #require(report.pages["class-\(sneaker).html"])
            #expect(classPage.classes["div.pathway"] == pathways.count)
            #expect(classPage.classes["div.step"] == pathways.count * 3)
            let graphPage = try #require(report.pages["graph.html"])
            #expect(graphPage.classes.keys.contains { $0.hasSuffix(".edge") })
        }

        // Chromium: index, a class page, a concept page and the graph page (dot layout).
        let shots = ProcessInfo.processInfo.environment["GIGTRACE_ATLAS_SCREENSHOTS"] ?? (dir + "/shots")
        try FileManager.default.createDirectory(atPath: shots, withIntermediateDirectories: true)
        let pages = ["index.html", "class-\(sneaker).html", "concept-L2-0.html", "graph.html"]
        let browsed = try Self.browse(dir + "/atlas-dot", screenshots: shots, pages: pages)
        for page in pages {
            let result = try #require(browsed[page])
            #expect(result.exit == [0, 0], "\(page)")
            #expect(result.consoleErrors.isEmpty, "\(page): \(result.consoleErrors)")
            #expect(result.variance > 100, "\(page): screenshot variance \(result.variance)")
        }
        #expect(browsed["class-\(sneaker).html"]?.dom.contains("class=\"pathway\"") == true)
        #expect(browsed["concept-L2-0.html"]?.dom.contains("class=\"exemplar\"") == true)
        // The graph page's script ran: the control exists and edges are still shown (threshold 0).
        let graphDOM = try #require(browsed["graph.html"]?.dom)
        #expect(graphDOM.contains("id=\"min-weight\"") && graphDOM.contains("class=\"edge"))
        #expect(!graphDOM.contains("display: none"))
    }

    /// The console check can fail: a page with an uncaught error and a missing picture is flagged,
    /// and a blank page has no variance.
    @Test func browserCheckFlagsConsoleErrorsAndBlankPages() throws {
        let dir = try makeTemporaryFolder("atlas-canary")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let broken = "<!DOCTYPE html><html><head><title>x</title></head><body><img src=\"missing.png\" alt=\"\">"
            + "<script>undefinedFunction();</script></body></html>"
        try Data(broken.utf8).write(to: URL(fileURLWithPath: dir + "/broken.html"))
        try Data("<!DOCTYPE html><html><head><title>x</title></head><body></body></html>".utf8)
            .write(to: URL(fileURLWithPath: dir + "/blank.html"))
        let result = try Self.browse(dir, screenshots: dir, pages: ["broken.html", "blank.html"])
        #expect(result["broken.html"]?.consoleErrors.isEmpty == false)
        #expect(result["blank.html"]?.variance == 0)
        let report = try Self.checkPages(dir)
        #expect(report.problems.contains { $0.contains("missing.png") && $0.contains("does not exist") })
    }

    static let hostileClass = "<img src=x onerror=alert(1)>"
    static let quotedClass = "a\"b'c & d\nsecond line"
    static let hostileLayer = "<script>alert('layer')</script>"

    /// A two-layer trace whose class names, layer names and dataset folder are hostile, with
    /// edges known by hand: a:q → b:r has value n+1 (q = r = 0) in image n.
    static func writeHostileTrace(_ dir: String) throws -> String {
        let folder = dir + "/data <b>&\"'\nx"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let images = folder + "/images.npy"
        let pixels = (0..<(6 * 8 * 8)).map { UInt8(($0 * 37) % 256) }
        try Npy.encode(descr: "|u1", shape: [6, 8, 8], body: Data(pixels)).write(to: URL(fileURLWithPath: images))
        let spec = DatasetSpec(data: images, format: "npy")
        let layers = [hostileLayer, "\"quoted\" & 'layer'"]
        let header = TraceHeader(
            model: ModelIdentity(sha256: "feed", path: dir + "/absent.onnx", inputShape: [1, 8, 8], classNames: [hostileClass, quotedClass]),
            preprocessingJSON: try spec.jsonText(),
            settings: RunSettings(layers: layers, conceptMethod: "nmf", conceptsPerLayer: [2, 3], steps: 8,
                                  quadrature: "gausslegendre", seed: 1, datasetPath: images, datasetCount: 6),
            banks: [unitBank(layers[0], 2), unitBank(layers[1], 3)])
        let path = dir + "/hostile.sqlite"
        let writer = try TraceWriter.create(at: path, header: header)
        for n in 0..<6 {
            let v = Float(n + 1)
            let codes = { (k: Int) in
                LayerCodes(positionCount: 4, codeSums: Array(repeating: v, count: k), activePositions: Array(repeating: 1, count: k),
                           topPFVs: (0..<k).map { _ in [ConceptExemplar(image: n, h: 0, w: 1, code: v, box: PatchBox(x0: 1, y0: 2, x1: 5, y1: 8))] })
            }
            try writer.add(ImageTrace(index: n, label: n % 2, prediction: n % 2,
                                      layerEdges: [EdgeMatrix(rows: 2, columns: 3, values: [v, 1, -v, 2, v, 1])],
                                      targetActive: [[true, true, true]],
                                      classEdges: [EdgeMatrix(rows: 2, columns: 2, values: [v, 1, 1, v]),
                                                   EdgeMatrix(rows: 3, columns: 2, values: [v, 0, 0, v, 1, 1])],
                                      layerCodes: [codes(2), codes(3)], completenessError: 0.01, reconstructionGap: 0))
        }
        try writer.finish()
        return path
    }

    @Test func hostileNamesStayTextInHTMLSVGDOTAndGraphML() throws {
        let dir = try makeTemporaryFolder("atlas-hostile")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let trace = try Self.writeHostileTrace(dir)
        for layout in ["builtin", "dot"] {
            let out = dir + "/atlas-" + layout
            try AtlasCommand.parse([trace, "--out", out, "--layout", layout, "--quiet"]).run()
            let report = try Self.checkPages(out, text: ["index.html", "graph.html", "class-0.html", "concept-L1-0.html"])
            #expect(report.problems.isEmpty, "\(report.problems.prefix(5))")
            for (page, info) in report.pages {
                #expect(info.eventAttributes.isEmpty, "\(page): \(info.eventAttributes)")
                #expect(info.scripts == (page == "graph.html" ? 1 : 0), "\(page)")
            }
            // The names show as text: the parser saw no <img onerror> and no <script> from them.
            let index = try #require(report.text["index.html"])
            #expect(index.contains(Self.hostileClass) && index.contains(Self.quotedClass) && index.contains(Self.hostileLayer))
            #expect(try #require(report.text["class-0.html"]).contains(Self.hostileClass))
            let graphText = try #require(report.text["graph.html"])
            #expect(graphText.contains(Self.hostileClass), "graph (\(layout)) lost the class name")
            // The hand-computed edge a:0 → b:0: values 1…6, mean 3.5 (sample sd 1.871, n = 6,
            // t(5) = 2.5706: half-width 1.963), shown on b:0's page among its parents.
            let concept = try #require(report.text["concept-L1-0.html"])
            #expect(concept.contains("3.50") && concept.contains("± 1.96"), "\(concept.prefix(2000))")
        }

        // DOT and GraphML exports: parsed by Graphviz and by Python's XML parser.
        try ExportCommand.parse([trace, "--format", "graphml", "--out", dir + "/g.graphml"]).run()
        try ExportCommand.parse([trace, "--format", "dot", "--out", dir + "/g.dot"]).run()
        let names = try runPython("""
            import sys, json, subprocess, xml.etree.ElementTree as ET
            ns = {'g': 'http://graphml.graphdrawing.org/xmlns'}
            root = ET.parse(sys.argv[1]).getroot()
            values = [d.text for d in root.iter('{http://graphml.graphdrawing.org/xmlns}data')]
            svg = subprocess.run(['dot', '-Tsvg', sys.argv[2]], check=True, capture_output=True, text=True).stdout
            tree = ET.fromstring(svg)
            tags = sorted({e.tag.split('}')[-1] for e in tree.iter()})
            texts = [t.text for t in tree.iter('{http://www.w3.org/2000/svg}text')]
            print(json.dumps({'graphml': values, 'svgTags': tags, 'svgTexts': texts}))
            """, arguments: [dir + "/g.graphml", dir + "/g.dot"])
        struct Exports: Decodable { var graphml: [String?]; var svgTags: [String]; var svgTexts: [String?] }
        let exports = try JSONDecoder().decode(Exports.self, from: Data(names.utf8))
        #expect(exports.graphml.contains(Self.hostileClass) && exports.graphml.contains(Self.quotedClass))
        #expect(exports.graphml.contains("\(Self.hostileLayer):0"))
        #expect(!exports.svgTags.contains("img") && !exports.svgTags.contains("script"))
        #expect(exports.svgTexts.contains(Self.hostileClass))
    }

    @Test func badOutputIsRefusedBeforeWork() throws {
        let dir = try makeTemporaryFolder("atlas-bad")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let trace = try Self.writeHostileTrace(dir)
        // Missing parent folder, an existing file, an existing folder without --force.
        try Data().write(to: URL(fileURLWithPath: dir + "/file"))
        try FileManager.default.createDirectory(atPath: dir + "/existing", withIntermediateDirectories: true)
        for out in [dir + "/no/such/atlas", dir + "/file", dir + "/existing"] {
            #expect(throws: ExitCode.self) { try AtlasCommand.parse([trace, "--out", out, "--quiet"]).run() }
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/existing").isEmpty)
        #expect(throws: (any Error).self) { try AtlasCommand.parse([trace, "--figure", "pathways", "--png", dir + "/f.png"]) }
        // --force replaces the folder; no temporary folder is left behind.
        try AtlasCommand.parse([trace, "--out", dir + "/existing", "--force", "--quiet"]).run()
        #expect(FileManager.default.fileExists(atPath: dir + "/existing/index.html"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix(".") }.isEmpty)
    }
}
