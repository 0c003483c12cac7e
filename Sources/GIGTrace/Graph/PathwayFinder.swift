/// One path from a concept of the first traced layer through one concept per layer to a class.
public struct Pathway: Sendable, Equatable, Codable {
    public struct Step: Sendable, Equatable, Codable {
        public var layer: Int
        public var index: Int
        public var name: String
        /// Normalised weight of the edge into this step (1 for the first step).
        public var weightIn: Double
        public var exemplars: [ConceptExemplar]
    }

    public var steps: [Step]
    public var classIndex: Int
    public var className: String
    /// Normalised weight of the last concept → class edge.
    public var classWeight: Double
    /// Product of the normalised weights along the path.
    public var score: Double
}

/// The k best pathways to a class (METHOD §6).
///
/// Edge weights are normalised per target: for target r (a concept of the next layer, or the
/// class), w(q→r) = max(mean A(q→r), 0) / Σ_q' max(mean A(q'→r), 0), so the weights into r are
/// the shares of r's positive relevance; negative (inhibiting) edges get weight 0 and no path
/// uses them. A path's score is the product of its weights: the share of the class's positive
/// relevance that flows along it, if shares compose multiplicatively. Because every weight is
/// ≥ 0, keeping the k best partial paths per node (k-best dynamic programming over the layers)
/// finds exactly the k best paths.
public enum PathwayFinder {
    /// Weights normalised per target column of a rows × columns matrix of mean edge values.
    public static func normalisedWeights(means: [Double], rows: Int, columns: Int) -> [Double] {
        var weights = means.map { max($0, 0) }
        for t in 0..<columns {
            let total = (0..<rows).reduce(0.0) { $0 + weights[$1 * columns + t] }
            for s in 0..<rows { weights[s * columns + t] = total > 0 ? weights[s * columns + t] / total : 0 }
        }
        return weights
    }

    /// Mean edge values of a block over a group; edges that are not significantly ≠ 0 count as 0
    /// when `significantOnly`.
    static func means(_ groups: EdgeGroups, group: ImageGroup, images: Int, significantOnly: Bool) -> [Double] {
        let block = groups.block(group)
        var means = block.means(images: images)
        if significantOnly {
            for s in 0..<block.rows {
                for t in 0..<block.columns
                where !block.statistics(source: s, target: t, images: images).isSignificant {
                    means[s * block.columns + t] = 0
                }
            }
        }
        return means
    }

    /// The `top` best paths to `classIndex`, best first (ties broken by the lower concept indices).
    /// `group` picks the images whose mean edges are used; `exemplars` per step are attached.
    public static func best(in graph: ConceptGraph, classIndex: Int, top: Int, group: ImageGroup = .all,
                            significantOnly: Bool = false, exemplars: Int = 3) -> [Pathway] {
        let layout = graph.layout
        let images = graph.groupSize(group)
        guard top > 0, images > 0, !layout.layers.isEmpty else { return [] }
        typealias Partial = (score: Double, path: [Int], weights: [Double])
        func better(_ a: Partial, _ b: Partial) -> Bool {
            a.score != b.score ? a.score > b.score : a.path.lexicographicallyPrecedes(b.path)
        }
        var partials: [[Partial]] = (0..<layout.layers[0].sourceCount).map { [(1, [$0], [1])] }
        for l in 0..<(layout.layers.count - 1) {
            let block = graph.layerEdges[l]
            let w = normalisedWeights(means: means(block, group: group, images: images, significantOnly: significantOnly),
                                      rows: block.rows, columns: block.columns)
            var next: [[Partial]] = Array(repeating: [], count: layout.layers[l + 1].sourceCount)
            for r in 0..<block.columns {
                var candidates: [Partial] = []
                for q in 0..<block.rows where w[q * block.columns + r] > 0 {
                    let weight = w[q * block.columns + r]
                    candidates += partials[q].map { ($0.score * weight, $0.path + [r], $0.weights + [weight]) }
                }
                next[r] = Array(candidates.sorted(by: better).prefix(top))
            }
            partials = next
        }
        let last = layout.layers.count - 1
        let block = graph.classEdges[last]
        let w = normalisedWeights(means: means(block, group: group, images: images, significantOnly: significantOnly),
                                  rows: block.rows, columns: block.columns)
        var finals: [(partial: Partial, classWeight: Double)] = []
        for q in 0..<block.rows where w[q * block.columns + classIndex] > 0 {
            let weight = w[q * block.columns + classIndex]
            finals += partials[q].map { (($0.score * weight, $0.path, $0.weights), weight) }
        }
        finals.sort { better($0.partial, $1.partial) }
        return finals.prefix(top).map { item in
            Pathway(
                steps: item.partial.path.enumerated().map { l, q in
                    Pathway.Step(layer: l, index: q, name: layout.nodeName(layer: l, index: q),
                                 weightIn: item.partial.weights[l], exemplars: Array(graph.exemplars[l][q].prefix(exemplars)))
                },
                classIndex: classIndex, className: layout.classNames[classIndex],
                classWeight: item.classWeight, score: item.partial.score)
        }
    }

    /// Human table of pathways with each step's exemplars.
    public static func table(_ pathways: [Pathway]) -> String {
        var out = ""
        for (rank, path) in pathways.enumerated() {
            out += "#\(rank + 1)  score \(TextTable.number(path.score))  "
                + path.steps.map(\.name).joined(separator: " → ") + " → \(path.className)\n"
            var table = TextTable(["concept", "weight in", "exemplars (image@h,w code [x0,y0,x1,y1])"])
            for step in path.steps {
                table.add([step.name, step.layer == 0 ? "start" : TextTable.number(step.weightIn),
                           step.exemplars.map(describe).joined(separator: "; ")])
            }
            table.add(["→ " + path.className, TextTable.number(path.classWeight), ""])
            out += table.render() + "\n"
        }
        return out.isEmpty ? "no pathway with positive weights reaches this class\n" : out
    }

    static func describe(_ e: ConceptExemplar) -> String {
        "\(e.image)@\(e.h),\(e.w) \(TextTable.number(Double(e.code), digits: 3)) [\(e.box.x0),\(e.box.y0),\(e.box.x1),\(e.box.y1)]"
    }
}
