import Foundation
import GIGTrace
import Testing
@testable import CLI

/// `gigtrace demo` end to end on a few images: trace, pathways, DOT with exemplar patches, SVG.
@Suite struct DemoCommandTests {
    @Test func demoWritesTheTraceTheGraphAndItsPatches() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("demo-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try DemoCommand.parse(["--out", dir, "--limit", "6", "--quiet"]).run()

        let reader = try TraceReader.open(dir + "/trace.sqlite")
        #expect(reader.complete && reader.graph.imageCount == 6)
        #expect(reader.header.settings.layers.count == 3)
        #expect(reader.header.model.classNames.contains("Sneaker") && reader.header.model.classNames.contains("Trouser"))

        let dot = try String(contentsOfFile: dir + "/graph.dot", encoding: .utf8)
        #expect(dot.hasPrefix("digraph"))
        // Every exemplar patch the graph points at exists, named relative to the DOT file's folder.
        let images = dot.split(separator: "\"").filter { $0.hasSuffix(".png") }.map(String.init)
        #expect(!images.isEmpty)
        for path in images {
            #expect(!path.hasPrefix("/") && FileManager.default.fileExists(atPath: dir + "/" + path), "\(path)")
        }
        #expect(FileManager.default.fileExists(atPath: dir + "/atlas/index.html"))
        if DemoCommand.executableInPath("dot") != nil {
            let svg = try String(contentsOfFile: dir + "/graph.svg", encoding: .utf8)
            #expect(svg.contains("<svg"))
        }

        // A second run reuses the finished trace instead of tracing again.
        let stamp = try FileManager.default.attributesOfItem(atPath: dir + "/trace.sqlite")[.modificationDate] as? Date
        try DemoCommand.parse(["--out", dir, "--limit", "6", "--quiet"]).run()
        #expect(try FileManager.default.attributesOfItem(atPath: dir + "/trace.sqlite")[.modificationDate] as? Date == stamp)
    }
}
