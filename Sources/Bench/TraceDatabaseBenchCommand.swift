import ArgumentParser
import CommandLineSupport
import Concepts
import Foundation
import GIGTrace
import PFV

/// Hidden `gigtrace bench-trace-db`: aggregates synthetic image traces of a given size, then times
/// one checkpoint (all aggregate rows in one transaction) and reopening the file — the figures
/// BENCHMARKS.md compares with tools/bench_trace_db.py (numpy + Python's sqlite3).
struct TraceDatabaseBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-trace-db",
        abstract: "Measure trace aggregation, checkpoint and load times on synthetic traces (for BENCHMARKS.md).",
        shouldDisplay: false)

    @Option(help: "Traced layers.") var layers = 4
    @Option(help: "Concepts per layer (the first layer also gets a PCA mean node).") var concepts = 64
    @Option(help: "Classes.") var classes = 10
    @Option(help: "Images to aggregate.") var images = 200
    @Option(help: "Folder for the temporary trace file.") var folder = NSTemporaryDirectory()

    func run() throws {
        try reportingErrors {
            let names = (0..<layers).map { "layer\($0)" }
            let banks = names.enumerated().map { l, name in
                ConceptBankRecord(layer: name, method: l == 0 ? "pca" : "nmf", conceptCount: concepts, channels: 128,
                                  lambda: 0.1, vectors: Array(repeating: 0.1, count: concepts * 128),
                                  mean: l == 0 ? Array(repeating: 0, count: 128) : nil,
                                  quality: BankQuality(r2: 0.9, meanNonzeros: 3, activeShare: Array(repeating: 0.1, count: concepts)))
            }
            let header = TraceHeader(
                model: ModelIdentity(sha256: "bench", path: "bench.onnx", inputShape: [1, 28, 28],
                                     classNames: (0..<classes).map { "class\($0)" }),
                preprocessingJSON: "{}",
                settings: RunSettings(layers: names, conceptMethod: "nmf", conceptsPerLayer: Array(repeating: concepts, count: layers),
                                      steps: 16, quadrature: "gausslegendre", seed: 1, datasetPath: "synthetic", datasetCount: images),
                banks: banks)
            let sources = header.layout.layers.map(\.sourceCount)
            var state: UInt64 = 12345
            func value() -> Float {  // half zeros, the rest uniform in [−1, 1) (a 64-bit LCG)
                state = state &* 6364136223846793005 &+ 1442695040888963407
                let u = Float(state >> 40) / Float(1 << 24)
                return u < 0.5 ? 0 : 4 * u - 3
            }
            let traces = (0..<images).map { n in
                ImageTrace(
                    index: n, label: n % classes, prediction: (n * 7) % classes,
                    layerEdges: (0..<(layers - 1)).map { l in
                        EdgeMatrix(rows: sources[l], columns: concepts, values: (0..<(sources[l] * concepts)).map { _ in value() })
                    },
                    targetActive: (0..<(layers - 1)).map { _ in Array(repeating: true, count: concepts) },
                    classEdges: sources.map { s in EdgeMatrix(rows: s, columns: classes, values: (0..<(s * classes)).map { _ in value() }) },
                    layerCodes: sources.map { s in
                        LayerCodes(positionCount: 49, codeSums: Array(repeating: 1, count: s), activePositions: Array(repeating: 3, count: s),
                                   topPFVs: (0..<s).map { _ in
                                       [ConceptExemplar(image: n, h: 1, w: 1, code: abs(value()), box: PatchBox(x0: 0, y0: 0, x1: 4, y1: 4))]
                                   })
                    },
                    completenessError: 0.01, reconstructionGap: 0.01)
            }
            let path = URL(fileURLWithPath: folder).appendingPathComponent("bench-\(ProcessInfo.processInfo.processIdentifier).sqlite").path
            defer { try? FileManager.default.removeItem(atPath: path) }
            let writer = try TraceWriter.create(at: path, header: header, force: true)
            var start = Date()
            for t in traces { try writer.add(t) }
            let add = Date().timeIntervalSince(start) / Double(images)
            start = Date()
            try writer.finish()
            let checkpoint = Date().timeIntervalSince(start)
            start = Date()
            let reader = try TraceReader.open(path)
            let load = Date().timeIntervalSince(start)
            var rows = 0
            for groups in reader.graph.layerEdges + reader.graph.classEdges {
                for stored in groups.blocks { rows += stored.block.activeCount.filter { $0 > 0 }.count }
            }
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
            print(String(format: "images=%d edge_rows=%d add_ms_per_image=%.3f checkpoint_s=%.3f load_s=%.3f file_mb=%.1f",
                         images, rows, add * 1000, checkpoint, load, Double(size) / 1e6))
        }
    }
}
