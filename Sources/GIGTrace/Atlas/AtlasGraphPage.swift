import Core
import Foundation

/// The graph page: the layered concept graph as inline SVG, laid out by Graphviz's `dot` when the
/// options name it, otherwise by a built-in layered layout (one column per traced layer and one
/// for the classes). Nodes link to concept and class pages and show their short name, the full
/// tensor name on hover; edge width grows with |mean GIG|, blue positive, red negative. Every edge
/// carries the classes `sig`/`nonsig` and `w0`…`w10` (|mean| in tenths of the strongest), which
/// the page's control uses to hide non-significant or weak edges.
extension AtlasSite {
    /// The edges and nodes drawn: top-k incoming edges per node over all images, the classes
    /// limited to those with the most images.
    func graphSelection() -> ExportGraph {
        var selected = ExportGraph(graph: graph, modelSHA256: writer.reader.header.model.sha256,
                                   options: GraphExportOptions(topK: options.graphTopK))
        if layout.classCount > options.graphClasses {
            let keep = Set((0..<layout.classCount).sorted { graph.labelCounts[$0] > graph.labelCounts[$1] }
                .prefix(options.graphClasses).map { "C\($0)" })
            selected.nodes.removeAll { $0.layer == nil && !keep.contains($0.id) }
            selected.edges.removeAll { $0.target.hasPrefix("C") && !keep.contains($0.target) }
        }
        return selected
    }

    func edgeClasses(_ e: ExportGraph.Edge, strongest: Double) -> String {
        let bucket = strongest > 0 ? Int((10 * abs(e.weight) / strongest).rounded(.down)) : 0
        return (e.statistics.isSignificant ? "sig" : "nonsig") + " w\(min(bucket, 10))"
    }

    func nodeLabel(_ n: ExportGraph.Node) -> (short: String, full: String, href: String) {
        if let l = n.layer {
            return (aliases.node(layer: l, index: n.index), layout.nodeName(layer: l, index: n.index), AtlasPaths.concept(l, n.index))
        }
        return (n.name, n.name, AtlasPaths.classPage(n.index))
    }

    func edgeTitle(_ e: ExportGraph.Edge, _ byID: [String: ExportGraph.Node]) -> String {
        let s = e.statistics
        let source = byID[e.source].map { nodeLabel($0).full } ?? e.source
        let target = byID[e.target].map { nodeLabel($0).full } ?? e.target
        return "\(source) → \(target): mean GIG \(HTML.interval(s)), active in \(s.activeCount) of \(s.images) images"
            + (s.isSignificant ? "" : " (not significant)")
    }

    func graphPage() throws -> String {
        let selected = graphSelection()
        var svg: String?
        var layoutName = "built-in layered layout"
        if let dot = options.dotExecutable {
            svg = try dotSVG(selected, dot: dot)
            layoutName = "Graphviz dot"
        }
        let drawing = svg ?? builtinSVG(selected)
        var body = "<h1>Concept graph</h1>\n<p>\(selected.nodes.count) nodes, \(selected.edges.count) edges: the \(options.graphTopK) strongest "
            + "incoming edges of each node (mean GIG over all \(graph.imageCount) images)"
            + (layout.classCount > options.graphClasses ? ", the \(options.graphClasses) classes with the most images" : "")
            + ". Width: |mean|; blue positive, red negative. Laid out by \(layoutName). Click a node for its page.</p>\n"
        body += """
            <div class="controls"><label><input type="checkbox" id="only-significant"> hide non-significant edges</label>
            &nbsp; <label>hide edges weaker than <input type="range" id="min-weight" min="0" max="10" value="0"> <span id="min-weight-value">0 %</span> of the strongest</label></div>
            <div class="graph" id="graph">
            \(drawing)
            </div>

            """
        let script = """
            (function () {
              var sig = document.getElementById('only-significant');
              var min = document.getElementById('min-weight');
              var label = document.getElementById('min-weight-value');
              function update() {
                var threshold = parseInt(min.value, 10);
                label.textContent = (threshold * 10) + ' %';
                document.querySelectorAll('#graph .edge').forEach(function (e) {
                  var w = 0;
                  e.classList.forEach(function (c) { if (/^w[0-9]+$/.test(c)) { w = parseInt(c.slice(1), 10); } });
                  var hide = (sig.checked && e.classList.contains('nonsig')) || w < threshold;
                  e.style.display = hide ? 'none' : '';
                });
              }
              sig.addEventListener('change', update);
              min.addEventListener('input', update);
              update();
            })();
            """
        return HTML.page(title: "Graph", body: body, script: script)
    }

    /// The built-in layout: columns of nodes in index order, cubic edges between column sides.
    func builtinSVG(_ g: ExportGraph) -> String {
        let (nodeWidth, nodeHeight, columnGap, rowGap, margin) = (150.0, 60.0, 130.0, 14.0, 20.0)
        var columns: [[ExportGraph.Node]] = layout.layers.indices.map { l in g.nodes.filter { $0.layer == l } }
        columns.append(g.nodes.filter { $0.layer == nil })
        var position: [String: (x: Double, y: Double)] = [:]
        for (c, column) in columns.enumerated() {
            for (i, n) in column.enumerated() {
                position[n.id] = (margin + Double(c) * (nodeWidth + columnGap), margin + 16 + Double(i) * (nodeHeight + rowGap))
            }
        }
        let width = margin * 2 + Double(columns.count) * nodeWidth + Double(columns.count - 1) * columnGap
        let height = margin * 2 + 16 + Double(columns.map(\.count).max() ?? 1) * (nodeHeight + rowGap)
        var svg = String(format: "<svg class=\"graph\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\">\n",
                         width, height, width, height)
        for (c, _) in columns.enumerated() {
            let title = c < layout.layers.count ? aliases.layers[c] : "classes"
            let full = c < layout.layers.count ? layout.layers[c].name : "classes"
            svg += String(format: "<text x=\"%.0f\" y=\"%.0f\" font-size=\"13\" font-weight=\"bold\"><title>%@</title>%@</text>\n",
                          margin + Double(c) * (nodeWidth + columnGap), margin + 4, HTML.escape(full), HTML.escape(title))
        }
        let strongest = g.edges.map { abs($0.weight) }.max() ?? 0
        let byID = Dictionary(g.nodes.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        for e in g.edges {
            guard let a = position[e.source], let b = position[e.target] else { continue }
            let (x0, y0, x1, y1) = (a.x + nodeWidth, a.y + nodeHeight / 2, b.x, b.y + nodeHeight / 2)
            let widthPx = strongest > 0 ? 0.5 + 5.5 * abs(e.weight) / strongest : 1
            let colour = e.weight >= 0 ? "#2166ac" : "#b2182b"
            svg += String(format: "<path class=\"edge %@\" d=\"M%.1f,%.1f C%.1f,%.1f %.1f,%.1f %.1f,%.1f\" fill=\"none\" stroke=\"%@\" stroke-opacity=\"0.75\" stroke-width=\"%.2f\"><title>%@</title></path>\n",
                          edgeClasses(e, strongest: strongest), x0, y0, (x0 + x1) / 2, y0, (x0 + x1) / 2, y1, x1, y1, colour, widthPx,
                          HTML.escape(edgeTitle(e, byID)))
        }
        for n in g.nodes {
            guard let p = position[n.id] else { continue }
            let label = nodeLabel(n)
            let fill = n.layer == nil ? "#fde0c5" : "#f7f7f7"
            svg += "<a href=\"\(label.href)\"><g class=\"node\" id=\"node-\(n.id)\"><title>\(HTML.escape(label.full))</title>"
            svg += String(format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.0f\" height=\"%.0f\" rx=\"6\" fill=\"%@\" stroke=\"#888\"/>", p.x, p.y, nodeWidth, nodeHeight, fill)
            var textX = p.x + 8
            if let l = n.layer, pictures.contains(AtlasPaths.patch(l, n.index, 0)) {
                svg += String(format: "<image href=\"%@\" x=\"%.1f\" y=\"%.1f\" width=\"48\" height=\"48\" preserveAspectRatio=\"xMidYMid meet\" style=\"image-rendering:pixelated\"/>",
                              AtlasPaths.patch(l, n.index, 0), p.x + 6, p.y + 6)
                textX = p.x + 60
            }
            svg += String(format: "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\">%@</text>", textX, p.y + nodeHeight / 2 + 4, HTML.escape(label.short))
            svg += "</g></a>\n"
        }
        return svg + "</svg>"
    }

    /// The graph laid out by `dot -Tsvg` (run inside the atlas folder so patch paths stay relative);
    /// the SVG's XML prologue and comments are dropped so it can sit inside the HTML page.
    func dotSVG(_ g: ExportGraph, dot: String) throws -> String {
        let strongest = g.edges.map { abs($0.weight) }.max() ?? 0
        let byID = Dictionary(g.nodes.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        var text = "digraph atlas {\n  rankdir=LR;\n  newrank=true;\n  ranksep=1.2;\n  bgcolor=\"transparent\";\n"
        text += "  node [shape=box, style=\"rounded,filled\", fillcolor=\"#f7f7f7\", fontsize=10, fontname=\"sans-serif\"];\n"
        for l in layout.layers.indices {
            let members = g.nodes.filter { $0.layer == l }
            guard !members.isEmpty else { continue }
            text += "  subgraph cluster_L\(l) {\n    label=\(ExportGraph.quoted(aliases.layers[l]));\n    tooltip=\(ExportGraph.quoted(layout.layers[l].name));\n    rank=same;\n"
            for n in members {
                let label = nodeLabel(n)
                var attributes = ["tooltip=" + ExportGraph.quoted(label.full), "URL=" + ExportGraph.quoted(label.href),
                                  "target=\"_top\"", "id=" + ExportGraph.quoted("node-\(n.id)")]
                let patch = AtlasPaths.patch(l, n.index, 0)
                if pictures.contains(patch) {
                    // An HTML-like label: the patch above the short name (text escaped as in HTML).
                    attributes.append("label=<<TABLE BORDER=\"0\" CELLSPACING=\"0\" CELLPADDING=\"1\"><TR><TD FIXEDSIZE=\"TRUE\" WIDTH=\"48\" HEIGHT=\"48\">"
                        + "<IMG SRC=\"\(patch)\" SCALE=\"TRUE\"/></TD></TR><TR><TD>\(HTML.escape(label.short))</TD></TR></TABLE>>")
                } else {
                    attributes.append("label=" + ExportGraph.quoted(label.short))
                }
                text += "    \(n.id) [\(attributes.joined(separator: ", "))];\n"
            }
            text += "  }\n"
        }
        let classes = g.nodes.filter { $0.layer == nil }
        if !classes.isEmpty {
            text += "  subgraph cluster_classes {\n    label=\"classes\";\n    rank=same;\n"
            for n in classes {
                let label = nodeLabel(n)
                text += "    \(n.id) [label=\(ExportGraph.quoted(label.short)), tooltip=\(ExportGraph.quoted(label.full)), URL=\(ExportGraph.quoted(label.href)), target=\"_top\", id=\(ExportGraph.quoted("node-\(n.id)")), shape=ellipse, fillcolor=\"#fde0c5\"];\n"
            }
            text += "  }\n"
        }
        for e in g.edges {
            let width = strongest > 0 ? 0.5 + 4.5 * abs(e.weight) / strongest : 1
            text += "  \(e.source) -> \(e.target) [penwidth=\(String(format: "%.2f", width)), color=\"\(e.weight >= 0 ? "#2166acc0" : "#b2182bc0")\", "
                + "class=\"\(edgeClasses(e, strongest: strongest))\", tooltip=\(ExportGraph.quoted(edgeTitle(e, byID)))];\n"
        }
        text += "}\n"

        let process = Process()
        process.executableURL = URL(fileURLWithPath: dot)
        process.arguments = ["-Tsvg"]
        process.currentDirectoryURL = URL(fileURLWithPath: root)
        let input = Pipe(), output = Pipe(), errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        do {
            try process.run()
        } catch {
            throw TraceError.invalidSettings("cannot run \(dot) to lay out the graph: \(error.localizedDescription)")
        }
        // Read while writing would be needed for huge graphs; dot reads all input before writing.
        input.fileHandleForWriting.write(Data(text.utf8))
        try? input.fileHandleForWriting.close()
        let svgData = output.fileHandleForReading.readDataToEndOfFile()
        let errorText = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw TraceError.invalidSettings("\(dot) -Tsvg failed (exit \(process.terminationStatus)): \(errorText.split(separator: "\n").first ?? "")")
        }
        var svg = String(decoding: svgData, as: UTF8.self)
        if let start = svg.range(of: "<svg") { svg = String(svg[start.lowerBound...]) }
        // Drop comments (dot writes the graph and node names into them).
        while let open = svg.range(of: "<!--"), let close = svg.range(of: "-->", range: open.upperBound..<svg.endIndex) {
            svg.removeSubrange(open.lowerBound..<close.upperBound)
        }
        return svg.replacingOccurrences(of: "<svg ", with: "<svg class=\"graph\" ")
    }
}
