import Foundation

extension ExportGraph {
    /// Graphviz DOT: one cluster (rank=same) per traced layer and one for the classes; nodes are
    /// labelled with their short name (`stage2:7`) and top class, the full name kept in `tooltip`
    /// and `fullname`; edge width grows with |mean|, blue for positive, red for negative.
    public func dot() -> String {
        let strongest = edges.map { abs($0.weight) }.max() ?? 0
        let aliases = LayerAliases(layout: layout)
        var out = "digraph concept_graph {\n  rankdir=LR;\n  newrank=true;\n"
        out += "  node [shape=box, style=\"rounded,filled\", fillcolor=\"#f7f7f7\", fontsize=10];\n"
        for (l, layer) in layout.layers.enumerated() {
            let members = nodes.filter { $0.layer == l }
            guard !members.isEmpty else { continue }
            out += "  subgraph cluster_L\(l) {\n    label=\(Self.quoted(aliases.layers[l]));\n    tooltip=\(Self.quoted(layer.name));\n    rank=same;\n"
            for n in members {
                var attributes = ["label=" + Self.quoted(n.label + (n.topClass.map { "\n" + $0 } ?? "")),
                                  "tooltip=" + Self.quoted(n.name), "fullname=" + Self.quoted(n.name)]
                if let image = n.image {
                    attributes += ["image=" + Self.quoted(image), "imagescale=true", "labelloc=b", "height=1.2"]
                }
                out += "    \(n.id) [\(attributes.joined(separator: ", "))];\n"
            }
            out += "  }\n"
        }
        let classes = nodes.filter { $0.layer == nil }
        if !classes.isEmpty {
            out += "  subgraph cluster_classes {\n    label=\"classes\";\n    rank=same;\n"
            for n in classes {
                out += "    \(n.id) [label=\(Self.quoted(n.name)), shape=ellipse, fillcolor=\"#fde0c5\"];\n"
            }
            out += "  }\n"
        }
        for e in edges {
            let width = strongest > 0 ? 0.5 + 4.5 * abs(e.weight) / strongest : 1
            let colour = e.weight >= 0 ? "#2166ac" : "#b2182b"
            let tip = String(format: "mean %.4g, 95%% CI [%.4g, %.4g], active in %d", e.weight,
                             e.statistics.ciLow, e.statistics.ciHigh, e.statistics.activeCount)
            out += "  \(e.source) -> \(e.target) [penwidth=\(String(format: "%.2f", width)), color=\"\(colour)\", "
                + "tooltip=\(Self.quoted(tip))];\n"
        }
        return out + "}\n"
    }

    /// A DOT double-quoted string.
    static func quoted(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n") + "\""
    }
}
