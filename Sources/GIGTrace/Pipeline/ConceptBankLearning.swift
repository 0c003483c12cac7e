import CNN
import Concepts
import Core
import Datasets
import PFV

/// Pass 1 of a trace, and all of `gigtrace concepts` (METHOD §1, §3): sample contribution-weighted
/// PFVs of the traced layers over a dataset (one forward and backward per batch for all layers)
/// and learn one concept bank per layer.
///
///     let banks = try ConceptBankLearning(method: .kmeans, conceptsPerLayer: [16], seed: 0)
///         .learn(model: model, loader: loader, layers: geometries)
public struct ConceptBankLearning: Sendable {
    /// The factorisation (identity: every channel its own concept, K = C).
    public var method: ConceptMethod
    /// K for every layer (one value) or per layer; ignored for identity.
    public var conceptsPerLayer: [Int]
    /// PFVs drawn per image (∝ positive contribution to the predicted class), or all of them.
    public var perImage: SamplesPerImage = .count(4)
    /// Seed of PFV sampling and of the learner.
    public var seed: UInt64
    /// Sparsity λ of the codes, relative to each PFV's norm (kmeans, nmf).
    public var lambda: Float = ConceptOptions.defaultLambda
    /// Lasso codes, or their support refit by non-negative least squares (kmeans, nmf; METHOD §3).
    public var coding: ConceptBank.Coding = .lasso
    /// Threads of the learner (1 keeps results independent of the thread count).
    public var threads: Int = 1
    /// Images decoded ahead of the model on worker threads.
    public var prefetchThreads: Int = 0

    public init(method: ConceptMethod, conceptsPerLayer: [Int], seed: UInt64) {
        self.method = method
        self.conceptsPerLayer = conceptsPerLayer
        self.seed = seed
    }

    /// What the learning reports while it runs.
    public enum Progress: Sendable {
        /// PFVs were sampled from `done` of `total` images.
        case sampled(done: Int, total: Int)
        /// The learner of layer `layer` finished `done` of `total` steps (k-means splits, NMF iterations).
        case learning(layer: String, done: Int, total: Int)
    }

    /// Samples PFVs over every image of `loader` and learns one bank per layer of `layers`.
    /// Throws when a layer yields no PFV (no positive contribution anywhere) or K is out of range.
    public func learn(model: Model, loader: DatasetLoader, layers: [LayerGeometry],
                      progress: (Progress) throws -> Void = { _ in }) throws -> [ConceptBank] {
        guard conceptsPerLayer.count == 1 || conceptsPerLayer.count == layers.count || method == .identity else {
            throw TraceError.invalidSettings("\(conceptsPerLayer.count) concept counts for \(layers.count) layers")
        }
        let total = loader.indices.count
        var sampled = 0
        let sets = try MultiLayerSampler.sample(model: model, loader: loader, layers: layers.map(\.name), perImage: perImage,
                                                seed: seed, prefetchThreads: prefetchThreads) { images in
            sampled += images
            try progress(.sampled(done: sampled, total: total))
        }
        var options = ConceptOptions()
        options.seed = seed
        options.lambda = lambda
        options.coding = coding
        options.threads = threads
        return try withoutActuallyEscaping(progress) { progress in try zip(layers, sets).enumerated().map { l, pair -> ConceptBank in
            let (g, set) = pair
            guard set.count > 0 else {
                throw TraceError.invalidSettings("no PFVs were sampled from '\(g.name)' in \(total) images (none had a positive contribution)")
            }
            let k = method == .identity ? g.channels : (conceptsPerLayer.count == 1 ? conceptsPerLayer[0] : conceptsPerLayer[l])
            guard k >= 1 else { throw TraceError.invalidSettings("the number of concepts K must be at least 1, got \(k)") }
            return try ConceptLearner.learn(pfvs: try Matrix(set.matrix), k: k, method: method, options: options, layer: g.name,
                                            sample: ConceptSample(seed: seed, count: set.count)) { done, steps in
                // The learners cannot be interrupted: a throwing progress handler only stops sampling.
                try? progress(.learning(layer: g.name, done: done, total: steps))
            }
        } }
    }
}
