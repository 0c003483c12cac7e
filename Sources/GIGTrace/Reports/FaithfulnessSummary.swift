import Core

/// How well a trace's graph describes the real model (METHOD §4 and §8), per traced layer over its
/// images: the end-to-end completeness error for the predicted class (Σ_sources A(·→c) against
/// logit_c(X) − logit_c(F(0)) with the real X), the logit reconstruction gap, and the error node's
/// share of the class relevance. `trace` prints it at the end, `query summary` with the rest.
///
/// ```swift
/// let summary = FaithfulnessSummary(layout: reader.layout, rows: try reader.database.readImageLayers())
/// print(summary?.lines().joined(separator: "\n") ?? "")
/// ```
public struct FaithfulnessSummary: Sendable, Equatable, Codable {
    public struct Layer: Sendable, Equatable, Codable {
        public var name: String
        public var images: Int
        public var endToEndErrorMedian: Double
        public var logitGapMedian: Double
        /// Median share of the predicted class's |relevance| carried by the error node (nil without one).
        public var errorShareMedian: Double?
    }

    /// The warning threshold for the median reconstruction gap (and the error node's share).
    public static let gapWarning = 0.10

    public var layers: [Layer]
    /// Median over images of the image's reconstruction gap (its layers' mean logit gap).
    public var reconstructionGapMedian: Double

    /// nil when the trace has no per-layer rows (made before schema v2).
    public init?(layout: TraceLayout, rows: [ImageLayerRecord]) {
        guard !rows.isEmpty else { return nil }
        layers = layout.layers.enumerated().map { l, layer in
            let mine = rows.filter { $0.level == l }
            return Layer(name: layer.name, images: mine.count,
                         endToEndErrorMedian: Self.median(mine.map(\.endToEndError)),
                         logitGapMedian: Self.median(mine.map(\.logitGap)),
                         errorShareMedian: layer.hasErrorNode ? Self.median(mine.map(\.errorShare)) : nil)
        }
        var perImage = [Int: (sum: Double, count: Int)]()
        for r in rows { perImage[r.image, default: (0, 0)].sum += r.logitGap; perImage[r.image, default: (0, 0)].count += 1 }
        reconstructionGapMedian = Self.median(perImage.values.map { $0.sum / Double($0.count) })
    }

    /// Lines for a terminal: one per layer, then the warning when the median gap exceeds 10 % and
    /// the error node (if any) does not carry the difference either.
    public func lines() -> [String] {
        func pct(_ x: Double) -> String { x.isFinite ? TextTable.number(100 * x, digits: 2) + " %" : "∞" }
        var out = layers.map { l in
            "  \(l.name): end-to-end completeness error median \(pct(l.endToEndErrorMedian)), "
                + "reconstruction gap (logits) median \(pct(l.logitGapMedian))"
                + (l.errorShareMedian.map { ", error node's share of the class relevance median \(pct($0))" } ?? "")
        }
        if let warning { out.append("warning: \(warning)") }
        return out
    }

    /// The warning when the concepts leave more than 10 % of the model unexplained, with advice.
    public var warning: String? {
        guard reconstructionGapMedian > Self.gapWarning else { return nil }
        let shares = layers.compactMap(\.errorShareMedian)
        let carried = shares.isEmpty ? "" : shares.allSatisfy({ $0 <= Self.gapWarning })
            ? " (the error node carries ≤ 10 % of the class relevance, so the graph still accounts for the real model)"
            : " and the error node carries up to \(TextTable.number(100 * (shares.max() ?? 0), digits: 1)) % of the class relevance"
        return "median reconstruction gap \(TextTable.number(100 * reconstructionGapMedian, digits: 1)) % > 10 %: "
            + "the codes rebuild the traced layers loosely\(carried); "
            + "a larger K (Kim et al. use K = 8·C per layer, at several times the trace time), another concept method or a smaller λ rebuild them better (METHOD §3–4)"
    }

    static func median(_ v: [Double]) -> Double { Statistics.median(v) }
}
