import Core

/// `query image N`: an image's label, prediction, completeness, concepts and strongest edges,
/// with node and class names resolved.
public struct ImageReport: Sendable, Equatable, Codable {
    public struct Concept: Sendable, Equatable, Codable {
        public var name: String
        public var codeSum: Double
        public var activePositions: Int
    }

    public struct Edge: Sendable, Equatable, Codable {
        public var source: String
        public var target: String
        public var value: Double
    }

    public var index: Int
    public var label: String
    public var prediction: String
    public var completenessError: Double
    public var reconstructionGap: Double
    public var concepts: [Concept]
    public var edges: [Edge]

    public init(record: ImageRecord, layout: TraceLayout) throws {
        func className(_ c: Int) throws -> String {
            guard layout.classNames.indices.contains(c) else {
                throw TraceError.invalidTrace("image \(record.index): class \(c) outside the model's \(layout.classCount) classes")
            }
            return layout.classNames[c]
        }
        func node(_ l: Int, _ q: Int) throws -> String {
            guard layout.layers.indices.contains(l), q >= 0, q < layout.layers[l].sourceCount else {
                throw TraceError.invalidTrace("image \(record.index): node \(l):\(q) outside the traced layers")
            }
            return layout.nodeName(layer: l, index: q)
        }
        index = record.index
        label = try className(record.label)
        prediction = try className(record.prediction)
        completenessError = record.completenessError
        reconstructionGap = record.reconstructionGap
        concepts = try record.concepts.map {
            Concept(name: try node($0.layer, $0.index), codeSum: $0.codeSum, activePositions: $0.activePositions)
        }
        edges = try record.topEdges.map {
            Edge(source: try node($0.layer, $0.source),
                 target: $0.toClass ? try className($0.target) : try node($0.layer + 1, $0.target), value: $0.value)
        }
    }

    public func table() -> String {
        var out = "image \(index): label \(label), predicted \(prediction), completeness error "
            + "\(TextTable.number(completenessError * 100, digits: 2)) %, reconstruction gap "
            + "\(TextTable.number(reconstructionGap * 100, digits: 2)) %\n\nconcepts:\n"
        var c = TextTable(["concept", "Σ code", "active positions"])
        for k in concepts { c.add([k.name, TextTable.number(k.codeSum), "\(k.activePositions)"]) }
        out += c.render() + "\nstrongest edges:\n"
        var e = TextTable(["source", "target", "GIG"])
        for k in edges { e.add([k.source, k.target, TextTable.number(k.value)]) }
        return out + e.render()
    }
}
