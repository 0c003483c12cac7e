/// The per-image row of a trace: outcome, completeness, and the image's own strongest concepts
/// and edges (kept for `query image N`).
public struct ImageRecord: Sendable, Equatable, Codable {
    public var index: Int
    public var label: Int
    public var prediction: Int
    public var completenessError: Double
    public var reconstructionGap: Double
    /// Active concepts of the image, strongest code sum first per layer (at most `limit` per layer).
    public var concepts: [ImageConcept]
    /// The image's strongest edges by |A| (at most `limit`).
    public var topEdges: [ImageEdge]

    public init(index: Int, label: Int, prediction: Int, completenessError: Double, reconstructionGap: Double,
                concepts: [ImageConcept], topEdges: [ImageEdge]) {
        self.index = index
        self.label = label
        self.prediction = prediction
        self.completenessError = completenessError
        self.reconstructionGap = reconstructionGap
        self.concepts = concepts
        self.topEdges = topEdges
    }

    /// Summarises a trace, keeping `limit` concepts per layer and `limit` edges overall.
    public init(_ trace: ImageTrace, limit: Int) {
        var concepts: [ImageConcept] = []
        for (l, codes) in trace.layerCodes.enumerated() {
            let active = codes.codeSums.indices.filter { codes.activePositions[$0] > 0 }
            let ranked = active.sorted { abs(codes.codeSums[$0]) > abs(codes.codeSums[$1]) || 
                (abs(codes.codeSums[$0]) == abs(codes.codeSums[$1]) && $0 < $1) }
            concepts += ranked.prefix(limit).map {
                ImageConcept(layer: l, index: $0, codeSum: Double(codes.codeSums[$0]),
                             activePositions: codes.activePositions[$0])
            }
        }
        // The `limit` strongest edges by |A|, kept sorted while scanning (most values are rejected
        // by one comparison with the weakest kept edge).
        var edges: [ImageEdge] = []
        edges.reserveCapacity(limit + 1)
        func offer(_ edge: ImageEdge) {
            guard limit > 0 else { return }
            let strength = abs(edge.value)
            if edges.count == limit, let weakest = edges.last, abs(weakest.value) >= strength { return }
            let at = edges.firstIndex { abs($0.value) < strength } ?? edges.count
            edges.insert(edge, at: at)
            if edges.count > limit { edges.removeLast() }
        }
        for (l, m) in trace.layerEdges.enumerated() {
            for s in 0..<m.rows { for t in 0..<m.columns where m[s, t] != 0 {
                offer(ImageEdge(layer: l, source: s, target: t, toClass: false, value: Double(m[s, t])))
            } }
        }
        for (l, m) in trace.classEdges.enumerated() {
            for s in 0..<m.rows { for t in 0..<m.columns where m[s, t] != 0 {
                offer(ImageEdge(layer: l, source: s, target: t, toClass: true, value: Double(m[s, t])))
            } }
        }
        self.init(index: trace.index, label: trace.label, prediction: trace.prediction,
                  completenessError: trace.completenessError, reconstructionGap: trace.reconstructionGap,
                  concepts: concepts, topEdges: edges)
    }
}

/// A concept active in one image: layer, source index, Σ codes and active positions.
public struct ImageConcept: Sendable, Equatable, Codable {
    public var layer: Int
    public var index: Int
    public var codeSum: Double
    public var activePositions: Int
}

/// One image's edge: from `layer:source` to `layer+1:target`, or to class `target` when `toClass`.
public struct ImageEdge: Sendable, Equatable, Codable {
    public var layer: Int
    public var source: Int
    public var target: Int
    public var toClass: Bool
    public var value: Double
}
