/// `query concept LAYER:INDEX`: a concept's frequency, its parents and children ranked by |mean|,
/// its top classes and its exemplars.
public struct ConceptReport: Sendable, Equatable, Codable {
    /// An edge seen from the concept: the other end, and the edge's statistics over the group.
    public struct Neighbour: Sendable, Equatable, Codable {
        public var name: String
        public var layer: Int?
        public var index: Int
        public var statistics: EdgeStatistics
        public var significant: Bool
    }

    public var name: String
    public var layer: Int
    public var index: Int
    public var images: Int
    public var imagesActive: Int
    public var positionFrequency: Double
    public var meanCode: Double
    public var parents: [Neighbour]
    public var children: [Neighbour]
    public var topClasses: [Neighbour]
    public var exemplars: [ConceptExemplar]

    /// Builds the report over `group`, keeping `top` entries per list (edges never active are left out;
    /// with `significantOnly` also those whose interval contains 0).
    public init(graph: ConceptGraph, layer: Int, index: Int, top: Int = 10, group: ImageGroup = .all,
                significantOnly: Bool = false) {
        let layout = graph.layout
        let images = graph.groupSize(group)
        func ranked(_ list: [Neighbour]) -> [Neighbour] {
            Array(list.filter { $0.statistics.activeCount > 0 && (!significantOnly || $0.significant) }
                .sorted { abs($0.statistics.mean) > abs($1.statistics.mean) }.prefix(top))
        }
        func neighbour(_ name: String, _ layer: Int?, _ index: Int, _ s: EdgeStatistics) -> Neighbour {
            Neighbour(name: name, layer: layer, index: index, statistics: s, significant: s.isSignificant)
        }
        var parents: [Neighbour] = []
        if layer > 0, index < layout.layers[layer].conceptCount {
            let block = graph.layerEdges[layer - 1].block(group)
            parents = (0..<block.rows).map { q in
                neighbour(layout.nodeName(layer: layer - 1, index: q), layer - 1, q,
                          block.statistics(source: q, target: index, images: images))
            }
        }
        var children: [Neighbour] = []
        if layer + 1 < layout.layers.count {
            let block = graph.layerEdges[layer].block(group)
            children = (0..<block.columns).map { r in
                neighbour(layout.nodeName(layer: layer + 1, index: r), layer + 1, r,
                          block.statistics(source: index, target: r, images: images))
            }
        }
        let classBlock = graph.classEdges[layer].block(group)
        let classes = (0..<classBlock.columns).map { c in
            neighbour(layout.classNames[c], nil, c, classBlock.statistics(source: index, target: c, images: images))
        }
        let sums = graph.nodes[layer][index]
        self.name = layout.nodeName(layer: layer, index: index)
        self.layer = layer
        self.index = index
        self.images = images
        imagesActive = sums.imagesActive
        positionFrequency = sums.positionFrequency
        meanCode = sums.meanCode
        self.parents = ranked(parents)
        self.children = ranked(children)
        topClasses = Array(classes.filter { !significantOnly || $0.significant }
            .sorted { $0.statistics.mean > $1.statistics.mean }.prefix(top))
        exemplars = graph.exemplars[layer][index]
    }

    /// The report as terminal tables.
    public func table() -> String {
        var out = "concept \(name): active in \(imagesActive) of \(images) images, "
            + "\(TextTable.number(positionFrequency * 100, digits: 1)) % of positions, mean code \(TextTable.number(meanCode))\n\n"
        for (title, list) in [("parents", parents), ("children", children), ("top classes", topClasses)] {
            out += title + ":\n"
            var t = TextTable(["node", "mean", "95% CI", "mean |A|", "active", "sig"])
            for n in list {
                let s = n.statistics
                t.add([n.name, TextTable.number(s.mean), "[\(TextTable.number(s.ciLow)), \(TextTable.number(s.ciHigh))]",
                       TextTable.number(s.meanAbs), "\(s.activeCount)", n.significant ? "*" : ""])
            }
            out += (list.isEmpty ? "  (none)\n" : t.render()) + "\n"
        }
        out += "exemplars:\n"
        var t = TextTable(["image", "h", "w", "code", "patch x0,y0,x1,y1"])
        for e in exemplars {
            t.add(["\(e.image)", "\(e.h)", "\(e.w)", TextTable.number(Double(e.code)),
                   "\(e.box.x0),\(e.box.y0),\(e.box.x1),\(e.box.y1)"])
        }
        return out + (exemplars.isEmpty ? "  (none)\n" : t.render())
    }
}
