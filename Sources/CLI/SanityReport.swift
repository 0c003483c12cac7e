import Foundation
import GIGTrace

/// What `gigtrace sanity` writes as JSON (schemas/sanity.schema.json): per-(check, stage, method)
/// means over the images, the verdict per method, and every per-image comparison. Undefined
/// correlations (a constant map) are written as null.
struct SanityReport: Encodable {
    struct Perturbation: Encodable { var accepted: Int; var tried: Int }
    struct Row: Encodable {
        var check: String
        var stage: String
        var method: String
        var spearmanAbsolute: Double?
        var spearmanSigned: Double?
        var ssim: Double?
        var hogSpearman: Double?
    }
    struct Verdict: Encodable {
        var method: String
        var randomization: Bool?
        var perturbation: Bool?
    }
    var format: String
    var version: Int
    var model: String
    var images: Int
    var targets: [Int]
    var seed: UInt64
    var sigma: Double?
    var perturbation: Perturbation?
    var methods: [Verdict]
    var summary: [Row]
    var comparisons: [MapSanityCheck.Comparison]

    func json() throws -> Data {
        // Comparisons may hold NaN: encode them through rows with optionals.
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        var copy = self
        copy.comparisons = []
        var object = try JSONSerialization.jsonObject(with: encoder.encode(copy)) as? [String: Any] ?? [:]
        object["comparisons"] = comparisons.map { c -> [String: Any] in
            ["check": c.check, "stage": c.stage, "method": c.method, "image": c.image,
             "spearmanAbsolute": Self.value(c.spearmanAbsolute), "spearmanSigned": Self.value(c.spearmanSigned),
             "ssim": Self.value(c.ssim), "hogSpearman": Self.value(c.hogSpearman)]
        }
        return try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
    }

    static func value(_ v: Double) -> Any { v.isFinite ? v : NSNull() }
    static func finite(_ v: Double) -> Double? { v.isFinite ? v : nil }

    /// Means over images (ignoring undefined values) per (check, stage, method), in first-seen order.
    static func summarize(_ comparisons: [MapSanityCheck.Comparison], methods: [AttributionMethod]) -> [Row] {
        var order = [String]()
        var groups = [String: [MapSanityCheck.Comparison]]()
        for c in comparisons {
            let key = "\(c.check)\u{1}\(c.stage)\u{1}\(c.method)"
            if groups[key] == nil { order.append(key) }
            groups[key, default: []].append(c)
        }
        func mean(_ values: [Double]) -> Double? {
            let v = values.filter(\.isFinite)
            return v.isEmpty ? nil : v.reduce(0, +) / Double(v.count)
        }
        return order.compactMap { key in
            guard let g = groups[key], let first = g.first else { return nil }
            return Row(check: first.check, stage: first.stage, method: first.method,
                       spearmanAbsolute: mean(g.map(\.spearmanAbsolute)), spearmanSigned: mean(g.map(\.spearmanSigned)),
                       ssim: mean(g.map(\.ssim)), hogSpearman: mean(g.map(\.hogSpearman)))
        }
    }

    /// Randomization passes when the last cascading stage's mean Spearman (absolute) is below 0.5
    /// (nil: a constant map, also a change); perturbation passes when the mean over models is ≥ 0.9.
    static func verdicts(_ rows: [Row], methods: [AttributionMethod]) -> [Verdict] {
        methods.map { m in
            let cascade = rows.filter { $0.check == "cascading" && $0.method == m.rawValue }
            let randomization = cascade.last.map { ($0.spearmanAbsolute ?? 0) < 0.5 }
            let perturbed = rows.filter { $0.check == "perturbation" && $0.method == m.rawValue }.compactMap(\.spearmanAbsolute)
            let perturbation = perturbed.isEmpty ? nil : perturbed.reduce(0, +) / Double(perturbed.count) >= 0.9
            return Verdict(method: m.rawValue, randomization: randomization, perturbation: perturbation)
        }
    }

    static func table(_ rows: [Row]) -> String {
        var t = TextTable(["check", "stage", "method", "spearman |M|", "spearman M", "SSIM", "HOG spearman"])
        func cell(_ v: Double?) -> String { v.map { TextTable.number($0, digits: 3) } ?? "n/a" }
        for r in rows {
            t.add([r.check, r.stage, r.method, cell(r.spearmanAbsolute), cell(r.spearmanSigned), cell(r.ssim), cell(r.hogSpearman)])
        }
        return t.render()
    }
}

/// The cascading-randomization figure (Adebayo et al. 2018, Fig. 2): one row per (image, method),
/// the original model's map first, then one column per stage (layers re-initialised from the
/// logits down to the first layer). Each cell is the channel-summed map, normalised on its own.
enum SanityFigure {
    static func write(originals: [AttributionMethod: [[Float]]], cascade: [AttributionMethod: [[[Float]]]], methods: [AttributionMethod],
                      images: Int, height: Int, width: Int, style: AttributionRendering.Style, to path: String) throws {
        let scale = max(1, 64 / max(height, width)), gap = 2
        let cellH = height * scale, cellW = width * scale
        let columns = 1 + (cascade[methods[0]]?.count ?? 0), rows = images * methods.count
        let figW = columns * (cellW + gap) + gap, figH = rows * (cellH + gap) + gap
        var px = [UInt8](repeating: 255, count: figW * figH * 3)
        for i in 0..<images {
            for (k, method) in methods.enumerated() {
                let row = i * methods.count + k
                let maps = [originals[method]?[i] ?? []] + (cascade[method] ?? []).map { $0[i] }
                for (col, map) in maps.enumerated() where map.count == height * width {
                    let cell = AttributionRendering.heatmap(map, style: style)
                    let x0 = gap + col * (cellW + gap), y0 = gap + row * (cellH + gap)
                    for y in 0..<cellH {
                        for x in 0..<cellW {
                            let src = ((y / scale) * width + x / scale) * 3, dst = ((y0 + y) * figW + x0 + x) * 3
                            px[dst] = cell[src]; px[dst + 1] = cell[src + 1]; px[dst + 2] = cell[src + 2]
                        }
                    }
                }
            }
        }
        try AttributionRendering.writePNG(px, width: figW, height: figH, to: path)
    }
}

/// What `gigtrace sanity --trace` writes (schemas/sanity.schema.json, the graph form): every
/// (check, stage, block) comparison of the retraced graph with the original model's graph of the
/// same images, and a summary with the perturbed models averaged. Undefined values are null.
struct GraphSanityReport {
    var model: String
    var trace: String
    var imageIndices: [Int]
    var seed: UInt64
    var topK: Int
    var sigma: Double?
    var perturbation: SanityReport.Perturbation?
    var rows: [GraphSanityCheck.Comparison]

    /// Perturbed models averaged into one stage "mean of N models"; other rows as they are.
    var summary: [GraphSanityCheck.Comparison] {
        var out = rows.filter { $0.check != "perturbation" }
        let perturbed = rows.filter { $0.check == "perturbation" }
        let models = Set(perturbed.map(\.stage)).count
        var blocks = [String]()
        for r in perturbed where !blocks.contains(r.block) { blocks.append(r.block) }
        func mean(_ v: [Double]) -> Double {
            let finite = v.filter(\.isFinite)
            return finite.isEmpty ? .nan : finite.reduce(0, +) / Double(finite.count)
        }
        for block in blocks {
            let group = perturbed.filter { $0.block == block }
            let classes = group.first?.classJaccard.count ?? 0
            out.append(GraphSanityCheck.Comparison(
                check: "perturbation", stage: "mean of \(models) models", block: block, edges: group.first?.edges ?? 0,
                spearman: mean(group.map(\.spearman)), kendall: mean(group.map(\.kendall)), jaccard: mean(group.map(\.jaccard)),
                classJaccard: (0..<classes).map { c in mean(group.map { $0.classJaccard[c] }) }))
        }
        return out
    }

    func table() -> String {
        var t = TextTable(["check", "stage", "block", "edges", "spearman", "kendall", "top-\(topK) jaccard"])
        func cell(_ v: Double) -> String { v.isFinite ? TextTable.number(v, digits: 3) : "n/a" }
        for r in summary {
            t.add([r.check, r.stage, r.block, r.block == "pathways" ? "" : String(r.edges), cell(r.spearman), cell(r.kendall), cell(r.jaccard)])
        }
        return "graph sanity checks on \(imageIndices.count) images of \(trace) (edge means vs the original model's graph)\n" + t.render()
    }

    func json() throws -> Data {
        func value(_ v: Double) -> Any { v.isFinite ? v : NSNull() }
        func encode(_ rows: [GraphSanityCheck.Comparison]) -> [[String: Any]] {
            rows.map { r in
                ["check": r.check, "stage": r.stage, "block": r.block, "edges": r.edges, "spearman": value(r.spearman),
                 "kendall": value(r.kendall), "jaccard": value(r.jaccard), "classJaccard": r.classJaccard.map(value)]
            }
        }
        var object: [String: Any] = [
            "format": "gigtrace-sanity", "version": 1, "model": model, "trace": trace, "images": imageIndices.count,
            "imageIndices": imageIndices, "seed": seed, "topK": topK,
            "graph": ["summary": encode(summary), "comparisons": encode(rows)],
        ]
        if let sigma { object["sigma"] = sigma }
        if let perturbation { object["perturbation"] = ["accepted": perturbation.accepted, "tried": perturbation.tried] }
        return try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
    }
}
