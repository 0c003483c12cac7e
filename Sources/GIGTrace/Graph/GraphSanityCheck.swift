import CNN
import Core
import Datasets
import Foundation
import PFV

/// The sanity checks of METHOD §7 for concept graphs: retrace a sample of a trace's images with
/// a randomized or perturbed copy of its model, coding every traced layer with the trace's own
/// concept banks and the trace's GIG settings (steps, quadrature, error node), and compare the
/// resulting graph with the original model's graph of the same images: Spearman's ρ and Kendall's
/// τ-b of the mean edges of every block (layer → next layer, layer → classes), and the Jaccard
/// overlap of each class's top-k pathways (METHOD §6).
///
///     let source = try TraceSource.open("demo/trace.sqlite")
///     let model = try source.loadModel(threads: 2, foldBatchNorm: false)
///     let check = try GraphSanityCheck(source: source, model: model, images: 16)
///     let original = try check.graph(of: model)
///     var rng = SamplingRNG(seed: 1)
///     let random = try check.graph(of: try model.randomizing(model.parameterLayers.map(\.node), rng: &rng))
///     let rows = GraphSanityCheck.compare(original, random, topK: 5, check: "cascading", stage: "all")
public struct GraphSanityCheck: Sendable {
    public let source: TraceSource
    public let layers: [LayerGeometry]
    /// The sample: the first `images` traced images (by dataset index), as loaded batches.
    public let batches: [DataBatch]
    /// The trace's GIG quadrature.
    let quadrature: Quadrature
    /// The trace's concept target (METHOD §4).
    let conceptTarget: ConceptTarget

    /// Loads the first `images` traced images and checks that `model` still predicts what the trace
    /// recorded for them (else the dataset or its preprocessing changed).
    public init(source: TraceSource, model: Model, images: Int, batchSize: Int = 32) throws {
        guard images >= 1 else { throw InputError.invalidParameter(.images, "images must be at least 1, got \(images)") }
        let settings = source.reader.header.settings
        guard let method = Quadrature.Method(rawValue: settings.quadrature) else {
            throw InputError.corruptFile(path: source.path, reason: "unknown quadrature '\(settings.quadrature)' in its settings")
        }
        quadrature = try Quadrature(method: method, steps: settings.steps)
        conceptTarget = try source.conceptTarget()
        self.source = source
        layers = try source.layers(in: model)
        let records = Array(try source.reader.images().sorted { $0.index < $1.index }.prefix(images))
        guard !records.isEmpty else { throw TraceError.invalidSettings("\(source.path) has no traced images") }
        let loader = try source.spec.makeLoader(batchSize: batchSize)
        try source.checkImages(records, in: loader)
        let stream = loader.restricted(to: records.map(\.index)).stream(prefetchThreads: 0)
        var batches = [DataBatch]()
        while let batch = try stream.next() { batches.append(batch) }
        self.batches = batches
        let recorded = Dictionary(uniqueKeysWithValues: records.map { ($0.index, $0.prediction) })
        let predictions = try MapSanityCheck.predictions(model, images: try allImages(), targets: imageIndices.map { _ in 0 })
        for (index, predicted) in zip(imageIndices, predictions.map(\.predicted)) where recorded[index] != predicted {
            throw TraceError.invalidSettings("image \(index) is now predicted as class \(predicted), the trace says \(recorded[index] ?? -1): "
                + "the dataset or its preprocessing changed since \(source.path) was traced")
        }
    }

    /// Dataset indices of the sample, in order.
    public var imageIndices: [Int] { batches.flatMap(\.indices) }

    /// The sample as one `[N, C, H, W]` batch.
    public func allImages() throws -> Tensor { try Tensor.concatenate(batches: batches.map(\.images)) }

    /// The concept graph of the sample under `model` (a copy of the traced model with other
    /// weights), traced as `gigtrace trace` does (BatchTracer), without exemplar boxes.
    /// `progress(images done)` after every batch.
    public func graph(of model: Model, progress: (Int) -> Void = { _ in }) throws -> ConceptGraph {
        let header = source.reader.header
        let tracer = try BatchTracer(model: model, layers: layers, banks: header.banks, quadrature: quadrature,
                                     codingThreads: model.threads, errorNode: header.settings.errorNode, conceptTarget: conceptTarget)
        var graph = ConceptGraph(layout: source.reader.layout)
        var done = 0
        for batch in batches {
            for trace in try tracer.trace(batch) { try graph.add(trace) }
            done += batch.indices.count
            progress(done)
        }
        return graph
    }

    /// The comparison of one block of edges (or, with `block == "pathways"`, of whole pathways).
    public struct Comparison: Sendable, Equatable {
        public var check: String
        public var stage: String
        /// "A → B" (layer pair), "A → classes", or "pathways".
        public var block: String
        /// Edges compared (sources × targets of the block; 0 for pathways).
        public var edges: Int
        /// Spearman's ρ and Kendall's τ-b of the mean edges (NaN when one side is constant, and for pathways).
        public var spearman: Double
        public var kendall: Double
        /// Mean over classes of the Jaccard overlap of the edges of this block that the class's top-k
        /// pathways use (for "pathways": of the pathways themselves); NaN when no pathway uses the block.
        public var jaccard: Double
        /// Per class: that Jaccard overlap (NaN where neither graph has such an edge or pathway).
        public var classJaccard: [Double]

        public init(check: String, stage: String, block: String, edges: Int, spearman: Double, kendall: Double,
                    jaccard: Double, classJaccard: [Double]) {
            self.check = check
            self.stage = stage
            self.block = block
            self.edges = edges
            self.spearman = spearman
            self.kendall = kendall
            self.jaccard = jaccard
            self.classJaccard = classJaccard
        }
    }

    /// The mean edges of every block over all images: layer pairs first, then layers → classes.
    public static func blocks(_ graph: ConceptGraph) -> [(name: String, means: [Double])] {
        let names = graph.layout.layers.map(\.name)
        let pairs = graph.layerEdges.indices.map { l in
            ("\(names[l]) → \(names[l + 1])", graph.layerEdges[l].all.means(images: graph.imageCount))
        }
        let classes = graph.classEdges.indices.map { l in
            ("\(names[l]) → classes", graph.classEdges[l].all.means(images: graph.imageCount))
        }
        return pairs + classes
    }

    /// Jaccard overlap |A ∩ B| / |A ∪ B|; NaN when both are empty.
    public static func jaccard<T: Hashable>(_ a: Set<T>, _ b: Set<T>) -> Double {
        let union = a.union(b).count
        return union == 0 ? .nan : Double(a.intersection(b).count) / Double(union)
    }

    /// The edges one block contributes to a set of pathways into class `c`: (source, target) pairs
    /// of layer pair `block`, or (source, c) when `block` is the last layer's concept → class block.
    static func pathwayEdges(_ pathways: [Pathway], block: Int, layerCount: Int, classIndex c: Int) -> Set<[Int]> {
        Set(pathways.compactMap { p -> [Int]? in
            let path = p.steps.map(\.index)
            if block < layerCount - 1 { return [path[block], path[block + 1]] }
            return block == 2 * layerCount - 2 ? [path[layerCount - 1], c] : nil
        })
    }

    /// Every block's correlations and pathway-edge overlaps, then the whole-pathway overlap.
    public static func compare(_ original: ConceptGraph, _ other: ConceptGraph, topK: Int, check: String, stage: String) -> [Comparison] {
        let classes = original.layout.classCount, layerCount = original.layout.layers.count
        func best(_ g: ConceptGraph) -> [[Pathway]] {
            (0..<classes).map { PathwayFinder.best(in: g, classIndex: $0, top: topK, exemplars: 0) }
        }
        let (mine, theirs) = (best(original), best(other))
        func mean(_ v: [Double]) -> Double {
            let finite = v.filter(\.isFinite)
            return finite.isEmpty ? .nan : finite.reduce(0, +) / Double(finite.count)
        }
        var rows = zip(blocks(original), blocks(other)).enumerated().map { b, pair in
            let (a, o) = (pair.0.means, pair.1.means)
            let perClass = (0..<classes).map { c in
                jaccard(pathwayEdges(mine[c], block: b, layerCount: layerCount, classIndex: c),
                        pathwayEdges(theirs[c], block: b, layerCount: layerCount, classIndex: c))
            }
            return Comparison(check: check, stage: stage, block: pair.0.name, edges: a.count,
                              spearman: MapMetrics.spearman(a, o), kendall: MapMetrics.kendall(a, o),
                              jaccard: mean(perClass), classJaccard: perClass)
        }
        let whole = (0..<classes).map { c in jaccard(Set(mine[c].map { $0.steps.map(\.index) }), Set(theirs[c].map { $0.steps.map(\.index) })) }
        rows.append(Comparison(check: check, stage: stage, block: "pathways", edges: 0, spearman: .nan, kendall: .nan,
                               jaccard: mean(whole), classJaccard: whole))
        return rows
    }
}
