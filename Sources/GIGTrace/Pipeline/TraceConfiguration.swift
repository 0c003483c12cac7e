import Concepts
import Datasets

/// Everything a trace run needs to know (what `gigtrace trace` passes to `TraceRun`).
///
/// Settings that change the graph (layers, concepts, steps, quadrature, seeds, concept sample,
/// dataset, shard count) are stored in the trace and must match when a run is resumed or shards
/// are merged; the others (batch size, threads, checkpoint cadence) may differ between runs.
public struct TraceConfiguration: Sendable {
    /// Default number of integration steps of GIG. Chosen by measurement (BENCHMARKS.md): the
    /// fewest Gauss–Legendre steps that keep the median completeness error under 1 % on the demo.
    public static let defaultSteps = 32
    /// Default number of images (the first of the selection) concepts are learned from.
    public static let defaultConceptImages = 1000
    /// Default for the error node (METHOD §4 and §8 say why).
    public static let defaultErrorNode = true
    /// Default concept target: the coefficient, whose edges predict their targets better in deletion
    /// and insertion than the projection's (METHOD §4, "Projection or coefficient?").
    public static let defaultConceptTarget = ConceptTarget.coefficient
    /// Default number of concepts per layer.
    public static let defaultConcepts = 16

    /// The ONNX model file.
    public var modelPath: String
    /// The dataset, preprocessing and selection; stored in the trace as JSON.
    public var dataset: DatasetSpec
    /// The finished trace database's path (`.partial` beside it while running).
    public var output: String
    /// Traced layers in forward order; empty: the model's `suggestedTraceLayers`.
    public var layers: [String] = []
    public var method: ConceptMethod = .kmeans
    /// K for every layer (one value) or one K per layer; ignored for `identity` (K = C).
    public var conceptsPerLayer: [Int] = [TraceConfiguration.defaultConcepts]
    /// K as a multiple M of each traced layer's channel count C (K = M·C; Kim et al. use M = 8);
    /// when set it replaces `conceptsPerLayer`, and the run stores the resolved K per layer.
    public var conceptsPerChannel: Int?
    /// Concept bank files, one per traced layer in order; when given, pass 1 is skipped.
    public var conceptBankPaths: [String] = []
    public var steps: Int = TraceConfiguration.defaultSteps
    public var quadrature: Quadrature.Method = .gaussLegendre
    /// Reverse or forward mode for GIG (not a setting of the graph: both give the same edges up to rounding).
    public var gigMode: GIGComputation.Mode = .auto
    /// Integrate GIG to the real layer with an error node ε per layer (METHOD §4); off: to X̃.
    public var errorNode: Bool = TraceConfiguration.defaultErrorNode
    /// What layer l → l+1 edges flow into: the projection on the target concept or its code (METHOD §4).
    public var conceptTarget: ConceptTarget = TraceConfiguration.defaultConceptTarget
    /// Seed of PFV sampling and concept learning.
    public var seed: UInt64 = 0
    /// Concepts are learned from the first `conceptImages` images of the whole selection (not of
    /// the shard), so every shard learns the same banks.
    public var conceptImages: Int = TraceConfiguration.defaultConceptImages
    /// PFVs drawn per concept image, ∝ positive contribution (METHOD §1).
    public var samplesPerImage: Int = 4
    /// Coding sparsity λ relative to ‖x‖ (kmeans, nmf).
    public var lambda: Float = ConceptOptions.defaultLambda
    /// Lasso codes, or their support refit by non-negative least squares (METHOD §3; kmeans, nmf).
    /// Applied to every bank, learned or loaded; stored in the settings (`extra["coding"]`).
    public var coding: ConceptBank.Coding = .lasso
    /// Shard I of N (0-based I): a contiguous block of the selection.
    public var shardIndex: Int = 0
    public var shardCount: Int = 1
    /// Class names in logit order; nil: `classes.txt` beside the model, else the dataset's, else numbers.
    public var classNames: [String]?
    /// Share of |iERF| mass an exemplar's patch box covers.
    public var exemplarMass: Double = 0.9
    /// Start over even if the output or a partial trace exists.
    public var force: Bool = false
    public var batchSize: Int = 32
    /// Leave out images that cannot be read or decoded (a resumed run retries them).
    public var skipBad: Bool = false
    /// Total CPU threads (OpenBLAS threads; our own loops use as many).
    public var threads: Int = 2
    /// Background threads decoding images ahead of the tracer.
    public var prefetchThreads: Int = 1
    /// Checkpoint after this many images or this many seconds, whichever comes first.
    public var checkpointImages: Int = 256
    public var checkpointSeconds: Double = 30

    public init(modelPath: String, dataset: DatasetSpec, output: String) {
        self.modelPath = modelPath
        self.dataset = dataset
        self.output = output
    }
}
