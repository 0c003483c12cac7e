import Foundation
@testable import Concepts
@testable import Core
@testable import GIGTrace
@testable import PFV

/// Synthetic traces with known values: three layers (the first a PCA bank with a mean node),
/// three classes, sparse signed GIG values.
enum Synthetic {
    static let classNames = ["cat", "dog", "bird"]
    static let layers = [("stage1", 3, true), ("stage2", 4, false), ("stage3", 3, false)]

    static func header(sha: String = "abc123", seed: UInt64 = 7, shard: Int = 0, of shards: Int = 1,
                       bankSeed: UInt64 = 1) -> TraceHeader {
        var rng = SplitMix64(seed: bankSeed)
        let banks = layers.map { name, k, pca in
            ConceptBankRecord(
                layer: name, method: pca ? "pca" : "nmf", conceptCount: k, channels: 5, lambda: 0.1,
                vectors: (0..<(k * 5)).map { _ in Float.random(in: -1...1, using: &rng) },
                mean: pca ? (0..<5).map { _ in Float.random(in: 0...1, using: &rng) } : nil,
                quality: BankQuality(r2: 0.9, meanNonzeros: 2.5, activeShare: Array(repeating: 0.5, count: k)))
        }
        return TraceHeader(
            model: ModelIdentity(sha256: sha, path: "model.onnx", inputShape: [1, 28, 28], classNames: classNames),
            preprocessingJSON: #"{"scale":255}"#,
            settings: RunSettings(layers: layers.map(\.0), conceptMethod: "nmf", conceptsPerLayer: layers.map(\.1),
                                  steps: 16, quadrature: "gausslegendre", seed: seed, shardIndex: shard,
                                  shardCount: shards, datasetPath: "/data/set", datasetCount: 40),
            banks: banks)
    }

    static var layout: TraceLayout { header().layout }

    /// One image's trace, a pure function of its index.
    static func trace(_ index: Int) -> ImageTrace {
        var rng = SplitMix64(seed: UInt64(index) &* 7919 &+ 13)
        let layout = Self.layout
        func value() -> Float {
            Float.random(in: 0..<1, using: &rng) < 0.3 ? 0 : Float.random(in: -2...3, using: &rng)
        }
        let sources = layout.layers.map(\.sourceCount)
        var edges: [EdgeMatrix] = []
        var active: [[Bool]] = []
        for l in 0..<(layout.layers.count - 1) {
            let t = layout.layers[l + 1].conceptCount
            edges.append(EdgeMatrix(rows: sources[l], columns: t, values: (0..<(sources[l] * t)).map { _ in value() }))
            active.append((0..<t).map { _ in true })
        }
        let c = layout.classCount
        let classEdges = sources.map { s in EdgeMatrix(rows: s, columns: c, values: (0..<(s * c)).map { _ in value() }) }
        let codes = layout.layers.map { layer in
            LayerCodes(
                positionCount: 16,
                codeSums: (0..<layer.sourceCount).map { _ in Float.random(in: 0...4, using: &rng) },
                activePositions: (0..<layer.sourceCount).map { _ in Int.random(in: 0...16, using: &rng) },
                topPFVs: (0..<layer.sourceCount).map { _ in
                    (0..<2).map { _ in
                        let h = Int.random(in: 0..<4, using: &rng), w = Int.random(in: 0..<4, using: &rng)
                        return ConceptExemplar(image: index, h: h, w: w, code: Float.random(in: 0...2, using: &rng),
                                               box: PatchBox(x0: w * 7, y0: h * 7, x1: w * 7 + 10, y1: h * 7 + 10))
                    }
                })
        }
        return ImageTrace(index: index, label: index % c, prediction: (index / 2) % c, layerEdges: edges,
                          targetActive: active, classEdges: classEdges, layerCodes: codes,
                          completenessError: Double(index % 7) * 0.01, reconstructionGap: 0.02)
    }
}

/// A fresh empty folder for one test.
func temporaryFolder() throws -> String {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("gigtrace-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url.path
}

/// Writes a complete trace of `images` to `path`, checkpointing every `every` images.
func writeTrace(_ path: String, header: TraceHeader = Synthetic.header(), images: [Int], every: Int = 5) throws {
    let writer = try TraceWriter.create(at: path, header: header)
    for (i, n) in images.enumerated() {
        try writer.add(Synthetic.trace(n))
        if (i + 1) % every == 0 { try writer.checkpoint() }
    }
    try writer.finish()
}

/// Asserts-friendly comparison of two graphs: counts exact, sums within a relative tolerance.
func graphsAgree(_ a: ConceptGraph, _ b: ConceptGraph, tolerance: Double = 1e-9) -> [String] {
    var problems: [String] = []
    if a.imageCount != b.imageCount { problems.append("image count") }
    if a.labelCounts != b.labelCounts || a.predictionCounts != b.predictionCounts { problems.append("class counts") }
    func close(_ x: [Double], _ y: [Double]) -> Bool {
        x.count == y.count && zip(x, y).allSatisfy { abs($0 - $1) <= tolerance * max(1, abs($0), abs($1)) }
    }
    for (name, ga, gb) in [("layer", a.layerEdges, b.layerEdges), ("class", a.classEdges, b.classEdges)] {
        for l in ga.indices {
            let ba = ga[l].blocks, bb = gb[l].blocks
            if ba.map(\.group) != bb.map(\.group) || ba.map(\.firstColumn) != bb.map(\.firstColumn) {
                problems.append("\(name) \(l) groups")
                continue
            }
            for (x, y) in zip(ba, bb) {
                if x.block.activeCount != y.block.activeCount { problems.append("\(name) \(l) \(x.group) counts") }
                if !close(x.block.sum, y.block.sum) || !close(x.block.sumOfSquares, y.block.sumOfSquares)
                    || !close(x.block.sumOfAbs, y.block.sumOfAbs) {
                    problems.append("\(name) \(l) \(x.group) sums")
                }
            }
        }
    }
    for l in a.nodes.indices {
        for q in a.nodes[l].indices {
            let x = a.nodes[l][q], y = b.nodes[l][q]
            if x.imagesActive != y.imagesActive || x.positionsActive != y.positionsActive
                || x.positionsSeen != y.positionsSeen || !close([x.codeSum], [y.codeSum]) {
                problems.append("node \(l):\(q)")
            }
            if a.exemplars[l][q] != b.exemplars[l][q] { problems.append("exemplars \(l):\(q)") }
        }
    }
    return problems
}
