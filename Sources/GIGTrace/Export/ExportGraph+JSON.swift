import CNN
import Core
import Foundation

extension ExportGraph {
    /// The JSON document described by schemas/graph.schema.json.
    struct Document: Encodable {
        struct Layer: Encodable { var index: Int; var name: String; var concepts: Int; var hasMeanNode: Bool; var hasErrorNode: Bool }
        struct Node: Encodable {
            var id: String; var kind: String; var layer: Int?; var index: Int; var name: String; var label: String
            var topClass: String?; var imagesActive: Int; var meanCode: Double
            var exemplars: [ConceptExemplar]; var image: String?
        }
        struct Edge: Encodable {
            var source: String; var target: String; var mean: Double; var meanAbs: Double; var std: Double
            var ciLow: Double; var ciHigh: Double; var activeCount: Int; var images: Int; var significant: Bool
        }
        var format = "gigtrace-concept-graph"
        var version = 1
        var modelSHA256: String
        var images: String
        var layers: [Layer]
        var classes: [String]
        var nodes: [Node]
        var edges: [Edge]
    }

    /// JSON (pretty, sorted keys). Optional fields are omitted when absent.
    public func json() throws -> String {
        let document = Document(
            modelSHA256: modelSHA256, images: group.description,
            layers: layout.layers.enumerated().map {
                .init(index: $0.offset, name: $0.element.name, concepts: $0.element.conceptCount,
                      hasMeanNode: $0.element.hasMeanNode, hasErrorNode: $0.element.hasErrorNode)
            },
            classes: layout.classNames,
            nodes: nodes.map {
                .init(id: $0.id, kind: $0.layer == nil ? "class" : "concept", layer: $0.layer, index: $0.index,
                      name: $0.name, label: $0.label, topClass: $0.topClass, imagesActive: $0.imagesActive, meanCode: $0.meanCode,
                      exemplars: $0.exemplars, image: $0.image)
            },
            edges: edges.map {
                let s = $0.statistics
                return .init(source: $0.source, target: $0.target, mean: s.mean, meanAbs: s.meanAbs, std: s.std,
                             ciLow: s.ciLow, ciHigh: s.ciHigh, activeCount: s.activeCount, images: s.images,
                             significant: s.isSignificant)
            })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        do {
            return String(decoding: try encoder.encode(document), as: UTF8.self) + "\n"
        } catch {
            throw TraceError.invalidSettings("cannot encode the graph as JSON: \(error)")
        }
    }
}
