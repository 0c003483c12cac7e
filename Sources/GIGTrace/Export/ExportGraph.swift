import CNN
import Core
import Foundation

/// Choices for exporting the concept graph (`gigtrace export`).
public struct GraphExportOptions: Sendable {
    /// Keep only the subgraph feeding this class (all classes when nil).
    public var classIndex: Int?
    /// Keep at most this many incoming edges per target, strongest |mean| first.
    public var topK: Int?
    /// Drop edges whose |mean| is below this.
    public var minWeight: Double
    /// Images whose mean edges are exported.
    public var group: ImageGroup
    /// Drop edges whose 95 % interval contains 0.
    public var significantOnly: Bool

    public init(classIndex: Int? = nil, topK: Int? = nil, minWeight: Double = 0, group: ImageGroup = .all,
                significantOnly: Bool = false) {
        self.classIndex = classIndex
        self.topK = topK
        self.minWeight = minWeight
        self.group = group
        self.significantOnly = significantOnly
    }
}

/// Writes an exemplar's patch as a PNG file (supplied by the caller who has the images).
public protocol ExemplarPatchWriter {
    /// Writes the patch of `exemplar` (a PFV of concept `layer:index`) to `path`.
    func writePatch(_ exemplar: ConceptExemplar, layer: Int, index: Int, to path: String) throws
}

/// The selected part of a concept graph, ready to render as DOT, JSON or GraphML.
public struct ExportGraph: Sendable, Equatable {
    public struct Node: Sendable, Equatable {
        /// `L<layer>_<index>` for concepts, `C<class>` for classes.
        public var id: String
        /// Traced layer, nil for a class node.
        public var layer: Int?
        public var index: Int
        /// `layer:index` (the full tensor name) or the class name.
        public var name: String
        /// Short label: `alias:index` (`LayerAliases`, e.g. `stage2:7`) or the class name.
        public var label: String
        /// For concepts: the class with the largest mean concept→class edge.
        public var topClass: String?
        public var imagesActive: Int
        public var meanCode: Double
        public var exemplars: [ConceptExemplar]
        /// Path of the exemplar patch PNG relative to the exported file, when patches were written.
        public var image: String?
    }

    public struct Edge: Sendable, Equatable {
        public var source: String
        public var target: String
        public var statistics: EdgeStatistics
        public var weight: Double { statistics.mean }
    }

    public var layout: TraceLayout
    public var modelSHA256: String
    public var group: ImageGroup
    public var nodes: [Node]
    public var edges: [Edge]

    /// Selects edges (active, |mean| ≥ minWeight, optionally significant, top-k per target, and
    /// only those feeding `classIndex` when given) and the nodes they touch.
    public init(graph: ConceptGraph, modelSHA256: String, options: GraphExportOptions) {
        let layout = graph.layout
        let images = graph.groupSize(options.group)
        func conceptID(_ l: Int, _ q: Int) -> String { "L\(l)_\(q)" }
        func classID(_ c: Int) -> String { "C\(c)" }

        func select(_ groups: EdgeGroups, sourceLayer: Int, targetID: (Int) -> String, targets: Set<Int>?) -> [Edge] {
            let block = groups.block(options.group)
            var edges: [Edge] = []
            for t in 0..<block.columns where targets?.contains(t) ?? true {
                var incoming: [Edge] = []
                for s in 0..<block.rows {
                    let stats = block.statistics(source: s, target: t, images: images)
                    guard stats.activeCount > 0, abs(stats.mean) >= options.minWeight,
                          !options.significantOnly || stats.isSignificant else { continue }
                    incoming.append(Edge(source: conceptID(sourceLayer, s), target: targetID(t), statistics: stats))
                }
                incoming.sort { abs($0.weight) > abs($1.weight) }
                edges += options.topK.map { Array(incoming.prefix($0)) } ?? incoming
            }
            return edges
        }

        var edges: [Edge] = []
        let last = layout.layers.count - 1
        if let c = options.classIndex {
            // Walk back from the class: keep edges into nodes already known to feed it.
            var feeding = Set<Int>()
            let classEdges = select(graph.classEdges[last], sourceLayer: last, targetID: classID, targets: [c])
            edges += classEdges
            for e in classEdges { if let q = Self.index(e.source) { feeding.insert(q) } }
            for l in stride(from: last - 1, through: 0, by: -1) {
                let layerEdges = select(graph.layerEdges[l], sourceLayer: l, targetID: { conceptID(l + 1, $0) },
                                        targets: feeding)
                edges += layerEdges
                feeding = Set(layerEdges.compactMap { Self.index($0.source) })
            }
        } else {
            for l in 0..<last {
                edges += select(graph.layerEdges[l], sourceLayer: l, targetID: { conceptID(l + 1, $0) }, targets: nil)
            }
            edges += select(graph.classEdges[last], sourceLayer: last, targetID: classID, targets: nil)
        }

        let used = Set(edges.flatMap { [$0.source, $0.target] })
        let aliases = LayerAliases(layout: layout)
        var nodes: [Node] = []
        for (l, layer) in layout.layers.enumerated() {
            let classMeans = graph.classEdges[l].block(options.group).means(images: images)
            for q in 0..<layer.sourceCount where used.contains(conceptID(l, q)) {
                let row = Array(classMeans[(q * layout.classCount)..<((q + 1) * layout.classCount)])
                let best = row.indices.max { row[$0] < row[$1] }
                let sums = graph.nodes[l][q]
                nodes.append(Node(id: conceptID(l, q), layer: l, index: q, name: layout.nodeName(layer: l, index: q),
                                  label: aliases.node(layer: l, index: q),
                                  topClass: best.map { layout.classNames[$0] }, imagesActive: sums.imagesActive,
                                  meanCode: sums.meanCode, exemplars: graph.exemplars[l][q], image: nil))
            }
        }
        for c in 0..<layout.classCount where used.contains(classID(c)) {
            nodes.append(Node(id: classID(c), layer: nil, index: c, name: layout.classNames[c],
                              label: layout.classNames[c], topClass: nil,
                              imagesActive: graph.labelCounts[c], meanCode: 0, exemplars: [], image: nil))
        }
        self.layout = layout
        self.modelSHA256 = modelSHA256
        group = options.group
        self.nodes = nodes
        self.edges = edges.sorted { ($0.source, $0.target) < ($1.source, $1.target) }
    }

    /// The concept index in an id `L<l>_<q>`.
    static func index(_ id: String) -> Int? {
        id.split(separator: "_").last.flatMap { Int($0) }
    }

    /// Writes each concept's top exemplar patch to `folder/<id>.png` and records its path relative
    /// to the folder of `output` (the exported file), so the export and its patches move together.
    public mutating func attachPatches(folder: String, writer: any ExemplarPatchWriter, relativeTo output: String) throws {
        var isDirectory: ObjCBool = false
        if !FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory) {
            do {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            } catch {
                throw TraceError.invalidSettings("cannot create patch folder \(folder): \(error.localizedDescription)")
            }
        } else if !isDirectory.boolValue {
            throw InputError.invalidParameter(.patches, "\(folder) is a file, not a folder")
        }
        for i in nodes.indices {
            guard let layer = nodes[i].layer, let exemplar = nodes[i].exemplars.first else { continue }
            let path = URL(fileURLWithPath: folder).appendingPathComponent("\(nodes[i].id).png").path
            try writer.writePatch(exemplar, layer: layer, index: nodes[i].index, to: path)
            nodes[i].image = Self.relativePath(path, from: URL(fileURLWithPath: output).deletingLastPathComponent().path)
        }
    }

    /// `path` relative to the folder `base` (both made absolute), with `..` where needed.
    static func relativePath(_ path: String, from base: String) -> String {
        let target = URL(fileURLWithPath: path).standardizedFileURL.pathComponents
        let origin = URL(fileURLWithPath: base).standardizedFileURL.pathComponents
        var common = 0
        while common < min(target.count, origin.count), target[common] == origin[common] { common += 1 }
        let parts = Array(repeating: "..", count: origin.count - common) + target[common...]
        return parts.joined(separator: "/")
    }
}
