import Core

/// The dataset-wide concept graph as sums and counts (METHOD §5): edges between consecutive
/// traced layers, edges from every layer's concepts to every class, node frequencies and codes,
/// and the top-N exemplars per node. Adding images and merging graphs of disjoint image sets
/// commute, so shards merge into exactly the graph of one run.
public struct ConceptGraph: Sendable, Equatable {
    public let layout: TraceLayout
    /// Exemplars kept per node.
    public let exemplarLimit: Int
    public var imageCount = 0
    /// Images per label and per predicted class (C entries each).
    public var labelCounts: [Int]
    public var predictionCounts: [Int]
    /// Element l: edges from layer l to layer l+1 (sources(l) × K_{l+1}).
    public var layerEdges: [EdgeGroups]
    /// Element l: edges from layer l's sources to the classes (sources(l) × C); per class only
    /// the class's own column is kept (see `EdgeGroups.ownClassOnly`).
    public var classEdges: [EdgeGroups]
    /// Per layer, per source node.
    public var nodes: [[NodeSums]]
    /// Per layer, per source node: the top `exemplarLimit` PFVs by `ConceptExemplar.ranksBefore`.
    public var exemplars: [[[ConceptExemplar]]]

    public init(layout: TraceLayout, exemplarLimit: Int = 8) {
        self.layout = layout
        self.exemplarLimit = exemplarLimit
        let c = layout.classCount
        labelCounts = Array(repeating: 0, count: c)
        predictionCounts = Array(repeating: 0, count: c)
        let layers = layout.layers
        layerEdges = zip(layers, layers.dropFirst()).map { EdgeGroups(rows: $0.sourceCount, columns: $1.conceptCount) }
        classEdges = layers.map { EdgeGroups(rows: $0.sourceCount, columns: c, ownClassOnly: true) }
        nodes = layers.map { Array(repeating: NodeSums(), count: $0.sourceCount) }
        exemplars = layers.map { Array(repeating: [], count: $0.sourceCount) }
    }

    /// Checks that a trace has this graph's shapes; throws naming the first mismatch.
    public func validate(_ trace: ImageTrace) throws {
        let layers = layout.layers, c = layout.classCount
        func fail(_ what: String) -> TraceError { .shapeMismatch("image \(trace.index): \(what)") }
        guard (0..<c).contains(trace.label), (0..<c).contains(trace.prediction) else {
            throw fail("label \(trace.label) / prediction \(trace.prediction) outside 0..<\(c)")
        }
        guard trace.layerEdges.count == layers.count - 1, trace.targetActive.count == layers.count - 1,
              trace.classEdges.count == layers.count, trace.layerCodes.count == layers.count else {
            throw fail("expected \(layers.count) traced layers")
        }
        for l in 0..<layers.count {
            let s = layers[l].sourceCount
            let m = trace.classEdges[l]
            guard m.rows == s, m.columns == c, m.values.count == s * c else {
                throw fail("concept→class matrix of layer \(layers[l].name) should be \(s)×\(c)")
            }
            let codes = trace.layerCodes[l]
            guard codes.codeSums.count == s, codes.activePositions.count == s, codes.topPFVs.count == s else {
                throw fail("codes of layer \(layers[l].name) should have \(s) entries")
            }
            if l + 1 < layers.count {
                let t = layers[l + 1].conceptCount, e = trace.layerEdges[l]
                guard e.rows == s, e.columns == t, e.values.count == s * t, trace.targetActive[l].count == t else {
                    throw fail("GIG matrix \(layers[l].name)→\(layers[l + 1].name) should be \(s)×\(t)")
                }
            }
        }
    }

    /// Adds one image (validated first).
    public mutating func add(_ trace: ImageTrace) throws {
        try validate(trace)
        imageCount += 1
        labelCounts[trace.label] += 1
        predictionCounts[trace.prediction] += 1
        for l in layerEdges.indices {
            layerEdges[l].add(trace.layerEdges[l], label: trace.label, prediction: trace.prediction)
        }
        for l in classEdges.indices {
            classEdges[l].add(trace.classEdges[l], label: trace.label, prediction: trace.prediction)
            let codes = trace.layerCodes[l]
            for q in nodes[l].indices {
                nodes[l][q].add(codeSum: codes.codeSums[q], activePositions: codes.activePositions[q],
                                positions: codes.positionCount)
                if !codes.topPFVs[q].isEmpty {
                    exemplars[l][q] = topExemplars(exemplars[l][q] + codes.topPFVs[q])
                }
            }
        }
    }

    /// Adds a graph over a disjoint set of images with the same layout.
    public mutating func merge(_ other: ConceptGraph) {
        imageCount += other.imageCount
        for c in labelCounts.indices {
            labelCounts[c] += other.labelCounts[c]
            predictionCounts[c] += other.predictionCounts[c]
        }
        for l in layerEdges.indices { layerEdges[l].merge(other.layerEdges[l]) }
        for l in classEdges.indices { classEdges[l].merge(other.classEdges[l]) }
        for l in nodes.indices {
            for q in nodes[l].indices {
                nodes[l][q].merge(other.nodes[l][q])
                exemplars[l][q] = topExemplars(exemplars[l][q] + other.exemplars[l][q])
            }
        }
    }

    /// Number of images in a group.
    public func groupSize(_ group: ImageGroup) -> Int {
        switch group {
        case .all: return imageCount
        case .label(let c): return labelCounts.indices.contains(c) ? labelCounts[c] : 0
        case .prediction(let c): return predictionCounts.indices.contains(c) ? predictionCounts[c] : 0
        }
    }

    /// Statistics of edge layer:source → layer+1:target over a group.
    public func layerEdge(layer: Int, source: Int, target: Int, group: ImageGroup = .all) -> EdgeStatistics {
        layerEdges[layer].block(group).statistics(source: source, target: target, images: groupSize(group))
    }

    /// Statistics of edge layer:source → class over a group.
    public func classEdge(layer: Int, source: Int, classIndex: Int, group: ImageGroup = .all) -> EdgeStatistics {
        classEdges[layer].block(group).statistics(source: source, target: classIndex, images: groupSize(group))
    }

    private func topExemplars(_ candidates: [ConceptExemplar]) -> [ConceptExemplar] {
        Array(candidates.sorted(by: ConceptExemplar.ranksBefore).prefix(exemplarLimit))
    }
}

/// A node's sums over images: images and positions where it is active, Σ codes, positions seen.
public struct NodeSums: Sendable, Equatable {
    public var imagesActive = 0
    public var positionsActive = 0
    public var positionsSeen = 0
    public var codeSum = 0.0

    public init(imagesActive: Int = 0, positionsActive: Int = 0, positionsSeen: Int = 0, codeSum: Double = 0) {
        self.imagesActive = imagesActive
        self.positionsActive = positionsActive
        self.positionsSeen = positionsSeen
        self.codeSum = codeSum
    }

    mutating func add(codeSum: Float, activePositions: Int, positions: Int) {
        if activePositions > 0 { imagesActive += 1 }
        positionsActive += activePositions
        positionsSeen += positions
        self.codeSum += Double(codeSum)
    }

    mutating func merge(_ other: NodeSums) {
        imagesActive += other.imagesActive
        positionsActive += other.positionsActive
        positionsSeen += other.positionsSeen
        codeSum += other.codeSum
    }

    /// Mean code per position (over all positions of all images).
    public var meanCode: Double { positionsSeen > 0 ? codeSum / Double(positionsSeen) : 0 }
    /// Share of positions where the node is active.
    public var positionFrequency: Double { positionsSeen > 0 ? Double(positionsActive) / Double(positionsSeen) : 0 }
}
