import Core
import Foundation

/// The pages of the atlas. Every name from the trace (classes, layers, model and dataset paths)
/// goes through `HTML.escape`; file names come from `AtlasPaths` (numbers only).
extension AtlasSite {
    // MARK: building blocks

    /// A link to a concept page showing its short name, the full tensor name on hover unless
    /// `titled` is false (image pages list many links; the concept page has the full name).
    func conceptLink(_ l: Int, _ q: Int, titled: Bool = true) -> String {
        "<a class=\"concept\" href=\"\(AtlasPaths.concept(l, q))\""
            + (titled ? " title=\"\(HTML.escape(layout.nodeName(layer: l, index: q)))\">" : ">")
            + HTML.escape(aliases.node(layer: l, index: q)) + "</a>"
    }

    func classLink(_ c: Int) -> String {
        "<a class=\"class\" href=\"\(AtlasPaths.classPage(c))\">\(HTML.escape(layout.classNames[c]))</a>"
    }

    /// Image `n`'s page link, or its number when it has no page.
    func imageLink(_ n: Int) -> String {
        imagePages.contains(n) ? "<a href=\"\(AtlasPaths.image(n))\">image \(n)</a>" : "image \(n)"
    }

    /// Up to `count` exemplar patch thumbnails of a concept.
    func thumbnails(_ l: Int, _ q: Int, count: Int) -> String {
        (0..<min(count, graph.exemplars[l][q].count)).compactMap { r in
            let path = AtlasPaths.patch(l, q, r)
            guard pictures.contains(path) else { return nil }
            return "<img class=\"thumb exemplar\" src=\"\(path)\" alt=\"exemplar \(r + 1) of \(HTML.escape(aliases.node(layer: l, index: q)))\">"
        }.joined()
    }

    /// The whole image with the patch box drawn over it (CSS percentages of the image size).
    func wholeImage(_ e: ConceptExemplar) -> String {
        let path = AtlasPaths.picture(e.image)
        guard pictures.contains(path), let (h, w) = imageSizes[e.image] else { return "" }
        func pct(_ v: Int, _ of: Int) -> String { String(format: "%.2f%%", 100 * Double(v) / Double(of)) }
        let b = e.box
        return "<span class=\"whole\"><img src=\"\(path)\" alt=\"image \(e.image)\">"
            + "<span class=\"box\" style=\"left:\(pct(b.x0, w));top:\(pct(b.y0, h));width:\(pct(b.width, w));height:\(pct(b.height, h))\"></span></span>"
    }

    func edgeCells(_ s: EdgeStatistics) -> String {
        let sign = s.mean >= 0 ? "pos" : "neg"
        return "<td class=\"num \(sign)\">\(HTML.number(s.mean))</td><td class=\"num\">± \(HTML.number((s.ciHigh - s.ciLow) / 2))</td>"
            + "<td class=\"num\">[\(HTML.number(s.ciLow)), \(HTML.number(s.ciHigh))]</td>"
            + "<td class=\"num\">\(s.activeCount) / \(s.images)</td>"
            + "<td>\(s.isSignificant ? "<span class=\"sig\">yes</span>" : "<span class=\"muted\">no</span>")</td>"
    }

    static let edgeHeader = "<th>mean GIG</th><th>95 % half-width</th><th>95 % interval</th><th>active in / images</th><th>significant</th>"

    // MARK: index and lists

    func indexPage(pathways: [[Pathway]]) -> String {
        let h = writer.reader.header
        let s = h.settings
        let completeness = records.map(\.completenessError).sorted()
        let gaps = records.map(\.reconstructionGap).sorted()
        let median = Statistics.median
        var body = "<h1>Concept atlas</h1>\n<table class=\"facts\">\n"
        let rows: [(String, String)] = [
            ("model", HTML.escape(h.model.path) + " <span class=\"muted\">sha256 \(HTML.escape(String(h.model.sha256.prefix(16))))…</span>"),
            ("input", h.model.inputShape.map(String.init).joined(separator: "×")),
            ("dataset", HTML.escape(s.datasetPath) + " (\(s.datasetCount) images)"),
            ("traced", "\(graph.imageCount) images" + (writer.reader.complete ? "" : " (unfinished run)")),
            ("method", "\(HTML.escape(s.conceptMethod)) concepts; GIG with \(s.steps) steps (\(HTML.escape(s.quadrature))); seed \(s.seed)"),
            ("completeness error", "median \(HTML.number(median(completeness) * 100)) %, worst \(HTML.number((completeness.last ?? 0) * 100)) %"),
            ("reconstruction gap", "median \(HTML.number(median(gaps) * 100)) %, worst \(HTML.number((gaps.last ?? 0) * 100)) %"),
        ]
        for (k, v) in rows { body += "<tr><th>\(k)</th><td>\(v)</td></tr>\n" }
        body += "</table>\n<h2>Traced layers</h2>\n<table id=\"layers\"><tr><th>layer</th><th>tensor</th><th>K</th><th>method</th><th>R²</th><th>nonzeros / PFV</th></tr>\n"
        for (l, bank) in h.banks.enumerated() {
            body += "<tr><td><a href=\"\(AtlasPaths.layer(l, page: 1))\">\(HTML.escape(aliases.layers[l]))</a></td><td>\(HTML.escape(bank.layer))</td>"
                + "<td class=\"num\">\(bank.k)</td><td>\(HTML.escape(bank.method.rawValue))</td>"
                + "<td class=\"num\">\(HTML.number(bank.quality.r2))</td><td class=\"num\">\(HTML.number(bank.quality.meanNonzeros))</td></tr>\n"
        }
        body += "</table>\n"
        for section in writer.sections {
            body += "<h2>\(HTML.escape(section.title))</h2>\n\(section.html)\n"
        }
        if writer.sections.isEmpty {
            body += "<h2>Evaluation and sanity checks</h2>\n<p class=\"muted\">This trace stores no evaluation or sanity-check results.</p>\n"
        }
        if !notes.isEmpty {
            body += "<h2>Notes</h2>\n<ul>" + notes.map { "<li>\(HTML.escape($0))</li>" }.joined() + "</ul>\n"
        }
        body += "<h2>Classes</h2>\n<p>\(layout.classCount) classes; the <a href=\"graph.html\">graph</a> shows how concepts feed them.</p>\n"
        body += classTable(0..<min(layout.classCount, options.pageSize), pathways: pathways)
        if layout.classCount > options.pageSize { body += "<p><a href=\"classes-2.html\">More classes…</a></p>\n" }
        return HTML.page(title: "Atlas", body: body)
    }

    func classTable(_ range: Range<Int>, pathways: [[Pathway]]) -> String {
        var out = "<table class=\"classes\"><tr><th>#</th><th>class</th><th>images (label)</th><th>predicted</th><th>best pathway</th><th>score</th></tr>\n"
        for c in range {
            let best = pathways[c].first
            out += "<tr><td class=\"num\">\(c)</td><td>\(classLink(c))</td><td class=\"num\">\(graph.labelCounts[c])</td>"
                + "<td class=\"num\">\(graph.predictionCounts[c])</td>"
                + "<td>\(best.map { $0.steps.map { conceptLink($0.layer, $0.index) }.joined(separator: " → ") } ?? "<span class=\"muted\">none</span>")</td>"
                + "<td class=\"num\">\(best.map { HTML.number($0.score) } ?? "")</td></tr>\n"
        }
        return out + "</table>\n"
    }

    func classListPage(_ page: Int, count: Int, pathways: [[Pathway]]) -> String {
        let start = (page - 1) * options.pageSize
        let range = start..<min(layout.classCount, start + options.pageSize)
        let body = "<h1>Classes</h1>\n" + HTML.pager(prefix: "classes", current: page, count: count)
            + classTable(range, pathways: pathways) + HTML.pager(prefix: "classes", current: page, count: count)
        return HTML.page(title: "Classes, page \(page)", body: body)
    }

    func layerPage(_ l: Int, page: Int, count: Int) -> String {
        let layer = layout.layers[l]
        let start = (page - 1) * options.pageSize
        let images = graph.imageCount
        let classMeans = graph.classEdges[l].block(.all).means(images: images)
        var body = "<h1>Layer \(HTML.escape(aliases.layers[l]))</h1>\n<p>Tensor <code>\(HTML.escape(layer.name))</code>, \(layer.conceptCount) concepts"
            + (layer.hasMeanNode ? " and the PCA mean node" : "") + ".</p>\n"
        body += HTML.pager(prefix: "layer-L\(l)", current: page, count: count)
        body += "<table class=\"concepts\"><tr><th>concept</th><th>exemplars</th><th>images active</th><th>positions active</th><th>mean code</th><th>top class (mean GIG)</th></tr>\n"
        for q in start..<min(layer.sourceCount, start + options.pageSize) {
            let sums = graph.nodes[l][q]
            let row = classMeans[(q * layout.classCount)..<((q + 1) * layout.classCount)]
            let best = row.indices.max { row[$0] < row[$1] }.map { $0 - q * layout.classCount }
            body += "<tr><td>\(conceptLink(l, q))</td><td>\(thumbnails(l, q, count: 3))</td><td class=\"num\">\(sums.imagesActive) / \(images)</td>"
                + "<td class=\"num\">\(HTML.number(sums.positionFrequency * 100)) %</td><td class=\"num\">\(HTML.number(sums.meanCode))</td>"
                + "<td>\(best.map { classLink($0) + " (\(HTML.number(classMeans[q * layout.classCount + $0])))" } ?? "")</td></tr>\n"
        }
        body += "</table>\n" + HTML.pager(prefix: "layer-L\(l)", current: page, count: count)
        return HTML.page(title: "Layer \(aliases.layers[l])", body: body)
    }

    // MARK: class pages

    func classPage(_ c: Int, pathways: [Pathway]) -> String {
        let group = ImageGroup.label(c)
        let n = graph.groupSize(group)
        var body = "<h1>Class \(HTML.escape(layout.classNames[c]))</h1>\n"
        body += "<p>\(n) traced images have this label; \(graph.predictionCounts[c]) were predicted as it. "
            + "Edges below are means over the images labelled with the class (METHOD §5); w is the share of the target's positive relevance (METHOD §6).</p>\n"
        body += "<h2>Top pathways</h2>\n"
        if pathways.isEmpty { body += "<p class=\"muted\">No pathway with positive weights reaches this class.</p>\n" }
        for (rank, path) in pathways.enumerated() {
            body += "<div class=\"pathway\"><div class=\"score\">#\(rank + 1)<br>score \(HTML.number(path.score))</div>\n"
            for (i, step) in path.steps.enumerated() {
                if i > 0 {
                    let prev = path.steps[i - 1]
                    let s = graph.layerEdge(layer: prev.layer, source: prev.index, target: step.index, group: group)
                    body += arrow(weight: step.weightIn, s)
                }
                body += "<div class=\"card step\">\(conceptLink(step.layer, step.index))<div class=\"thumbs\">\(thumbnails(step.layer, step.index, count: 3))</div>"
                    + "<div class=\"muted\">active in \(graph.nodes[step.layer][step.index].imagesActive) images</div></div>\n"
            }
            if let last = path.steps.last {
                body += arrow(weight: path.classWeight, graph.classEdge(layer: last.layer, source: last.index, classIndex: c, group: group))
            }
            body += "<div class=\"card class\">\(HTML.escape(layout.classNames[c]))</div></div>\n"
        }
        body += "<h2>Strongest concepts per layer</h2>\n"
        for (l, layer) in layout.layers.enumerated() {
            let stats = (0..<layer.sourceCount).map { graph.classEdge(layer: l, source: $0, classIndex: c, group: group) }
            let top = stats.indices.filter { stats[$0].activeCount > 0 }.sorted { stats[$0].mean > stats[$1].mean }.prefix(5)
            body += "<h3>\(HTML.escape(aliases.layers[l])) <span class=\"muted\">\(HTML.escape(layer.name))</span></h3>\n"
            body += "<table><tr><th>concept</th><th>exemplars</th>\(Self.edgeHeader)</tr>\n"
            for q in top { body += "<tr><td>\(conceptLink(l, q))</td><td>\(thumbnails(l, q, count: 3))</td>\(edgeCells(stats[q]))</tr>\n" }
            body += "</table>\n"
        }
        return HTML.page(title: "Class \(layout.classNames[c])", body: body)
    }

    func arrow(weight: Double, _ s: EdgeStatistics) -> String {
        "<div class=\"arrow\" title=\"mean GIG \(HTML.escape(HTML.interval(s))), active in \(s.activeCount) of \(s.images) images\">"
            + "→ w \(HTML.number(weight))<br>\(HTML.number(s.mean)) ± \(HTML.number((s.ciHigh - s.ciLow) / 2))<br>"
            + "<span class=\"muted\">\(s.activeCount)/\(s.images) img</span>\(s.isSignificant ? "" : " <span class=\"muted\">n.s.</span>")</div>\n"
    }

    // MARK: concept pages

    func conceptPage(_ l: Int, _ q: Int, codeSums: [Double]) -> String {
        let report = ConceptReport(graph: graph, layer: l, index: q, top: 10)
        var body = "<h1>Concept \(HTML.escape(aliases.node(layer: l, index: q)))</h1>\n<p><code>\(HTML.escape(report.name))</code></p>\n"
        body += "<p>Active in \(report.imagesActive) of \(report.images) images (\(HTML.number(report.images > 0 ? 100 * Double(report.imagesActive) / Double(report.images) : 0)) %) "
            + "and at \(HTML.number(report.positionFrequency * 100)) % of positions; mean code \(HTML.number(report.meanCode)) per position.</p>\n"
        body += "<h2>Exemplars</h2>\n<p class=\"muted\">Each patch is the input box covering 90 % of the PFV's iERF"
            + (writer.images?.ierfUnavailable == nil ? ", tinted by the iERF (red positive, blue negative)" : "")
            + "; beside it the whole image with the box.</p>\n<div class=\"grid exemplars\">\n"
        for (r, e) in report.exemplars.prefix(options.exemplars).enumerated() {
            let patch = AtlasPaths.patch(l, q, r)
            body += "<figure class=\"exemplar\">"
                + (pictures.contains(patch) ? "<img src=\"\(patch)\" alt=\"exemplar \(r + 1)\">" : "") + wholeImage(e)
                + "<figcaption>\(imageLink(e.image)) @ \(e.h),\(e.w)<br>code \(HTML.number(Double(e.code)))</figcaption></figure>\n"
        }
        body += "</div>\n"
        for (title, list) in [("Parents", report.parents), ("Children", report.children), ("Top classes", report.topClasses)] {
            body += "<h2>\(title)</h2>\n"
            if list.isEmpty { body += "<p class=\"muted\">none</p>\n"; continue }
            body += "<table class=\"neighbours\"><tr><th>node</th>\(Self.edgeHeader)</tr>\n"
            for n in list {
                let name = n.layer.map { conceptLink($0, n.index) } ?? classLink(n.index)
                body += "<tr><td>\(name)</td>\(edgeCells(n.statistics))</tr>\n"
            }
            body += "</table>\n"
        }
        body += "<h2>Code distribution</h2>\n<p class=\"muted\">Σ code per image, over the \(codeSums.count) traced images whose record lists this concept among their strongest.</p>\n"
        body += histogram(codeSums)
        return HTML.page(title: "Concept \(aliases.node(layer: l, index: q))", body: body)
    }

    /// A 20-bin histogram as inline SVG.
    func histogram(_ values: [Double]) -> String {
        guard let lo = values.min(), let hi = values.max() else { return "<p class=\"muted\">no values</p>\n" }
        let bins = 20
        let width = hi > lo ? (hi - lo) / Double(bins) : 1
        var counts = [Int](repeating: 0, count: bins)
        for v in values { counts[min(bins - 1, Int((v - lo) / width))] += 1 }
        let peak = max(counts.max() ?? 1, 1)
        let (w, h, pad) = (400.0, 120.0, 20.0)
        var svg = "<svg class=\"histogram\" width=\"\(Int(w))\" height=\"\(Int(h + 2 * pad))\" viewBox=\"0 0 \(Int(w)) \(Int(h + 2 * pad))\" role=\"img\">\n"
        let barWidth = (w - 2 * pad) / Double(bins)
        for (i, count) in counts.enumerated() {
            let barHeight = h * Double(count) / Double(peak)
            svg += String(format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#5c6bc0\"><title>%@–%@: %d images</title></rect>\n",
                          pad + Double(i) * barWidth, pad + h - barHeight, barWidth - 1, barHeight,
                          HTML.number(lo + Double(i) * width), HTML.number(lo + Double(i + 1) * width), count)
        }
        svg += "<text x=\"\(Int(pad))\" y=\"\(Int(h + 2 * pad - 4))\" font-size=\"11\">\(HTML.number(lo))</text>"
            + "<text x=\"\(Int(w - pad))\" y=\"\(Int(h + 2 * pad - 4))\" font-size=\"11\" text-anchor=\"end\">\(HTML.number(hi))</text>"
            + "<text x=\"\(Int(pad))\" y=\"12\" font-size=\"11\">\(peak) images</text>\n</svg>\n"
        return svg
    }

    // MARK: image pages

    func imageListPage(_ page: Int, count: Int) -> String {
        let start = (page - 1) * options.pageSize
        var body = "<h1>Traced images</h1>\n<p>\(records.count) images; the first \(min(options.imagePages, records.count)) have pages.</p>\n"
        body += HTML.pager(prefix: "images", current: page, count: count)
        body += "<table><tr><th>image</th><th>label</th><th>prediction</th><th>completeness error</th><th>reconstruction gap</th></tr>\n"
        for r in records.dropFirst(start).prefix(options.pageSize) {
            body += "<tr><td>\(imageLink(r.index))</td><td>\(className(r.label))</td><td>\(className(r.prediction))</td>"
                + "<td class=\"num\">\(HTML.number(r.completenessError * 100)) %</td><td class=\"num\">\(HTML.number(r.reconstructionGap * 100)) %</td></tr>\n"
        }
        body += "</table>\n" + HTML.pager(prefix: "images", current: page, count: count)
        return HTML.page(title: "Images, page \(page)", body: body)
    }

    func className(_ c: Int) -> String {
        layout.classNames.indices.contains(c) ? classLink(c) : "class \(c)"
    }

    func nodeLink(_ l: Int, _ q: Int) -> String {
        layout.layers.indices.contains(l) && q >= 0 && q < layout.layers[l].sourceCount ? conceptLink(l, q, titled: false) : "\(l):\(q)"
    }

    func imagePage(_ record: ImageRecord) throws -> String {
        let path = AtlasPaths.picture(record.index)
        var body = "<h1>Image \(record.index)</h1>\n"
        if pictures.contains(path) { body += "<p><img class=\"big\" src=\"\(path)\" alt=\"image \(record.index)\"></p>\n" }
        body += "<p>Label \(className(record.label)), predicted \(className(record.prediction)); completeness error "
            + "\(HTML.number(record.completenessError * 100)) %, reconstruction gap \(HTML.number(record.reconstructionGap * 100)) %.</p>\n"
        body += "<h2>Active concepts</h2>\n<table><tr><th>concept</th><th>top exemplar</th><th>Σ code</th><th>active positions</th></tr>\n"
        for c in record.concepts {
            let valid = layout.layers.indices.contains(c.layer) && c.index >= 0 && c.index < layout.layers[c.layer].sourceCount
            body += "<tr><td>\(nodeLink(c.layer, c.index))</td><td>\(valid ? thumbnails(c.layer, c.index, count: 1) : "")</td>"
                + "<td class=\"num\">\(HTML.number(c.codeSum))</td><td class=\"num\">\(c.activePositions)</td></tr>\n"
        }
        body += "</table>\n<h2>Strongest edges</h2>\n<table><tr><th>source</th><th>target</th><th>GIG</th></tr>\n"
        for e in record.topEdges {
            let target = e.toClass ? className(e.target) : nodeLink(e.layer + 1, e.target)
            body += "<tr><td>\(nodeLink(e.layer, e.source))</td><td>\(target)</td><td class=\"num \(e.value >= 0 ? "pos" : "neg")\">\(HTML.number(e.value))</td></tr>\n"
        }
        body += "</table>\n"
        return HTML.page(title: "Image \(record.index)", body: body)
    }
}
