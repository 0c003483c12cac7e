import CNN
import Core
import Foundation

/// The sanity checks of METHOD §7 for input attribution maps: recompute each method's maps on
/// randomized or perturbed copies of the model and compare them with the original maps.
///
///     let check = MapSanityCheck(model: m, methods: [.integratedGradients], settings: try .standard())
///     let stages = check.cascadingStages()      // logits first
///     let rows = try check.run(images: x, targets: t, baselines: b, stages: stages, rng: &rng)
public struct MapSanityCheck: Sendable {
    public let model: Model
    public let methods: [AttributionMethod]
    public let settings: AttributionSettings

    public init(model: Model, methods: [AttributionMethod], settings: AttributionSettings) {
        self.model = model
        self.methods = methods
        self.settings = settings
    }

    /// One modified model: which check, a label, and the layers it re-initialised.
    public struct Stage: Sendable {
        public var check: String
        public var label: String
        public var layers: [Int]
    }

    /// The metrics of one (stage, method, image) against the original map (METHOD §7).
    public struct Comparison: Sendable, Codable, Equatable {
        public var check: String
        public var stage: String
        public var method: String
        public var image: Int
        public var spearmanAbsolute: Double
        public var spearmanSigned: Double
        public var ssim: Double
        public var hogSpearman: Double

        public init(check: String, stage: String, method: String, image: Int, spearmanAbsolute: Double, spearmanSigned: Double,
                    ssim: Double, hogSpearman: Double) {
            self.check = check
            self.stage = stage
            self.method = method
            self.image = image
            self.spearmanAbsolute = spearmanAbsolute
            self.spearmanSigned = spearmanSigned
            self.ssim = ssim
            self.hogSpearman = hogSpearman
        }
    }

    /// Cascading randomization: stage s re-initialises the s + 1 layers nearest the logits.
    public func cascadingStages() -> [Stage] {
        let layers = model.parameterLayers.reversed().map { $0 }
        return layers.indices.map { s in
            Stage(check: "cascading", label: layers[s].name, layers: layers[0...s].map(\.node))
        }
    }

    /// Independent randomization: one layer at a time, logits first.
    public func independentStages() -> [Stage] {
        model.parameterLayers.reversed().map { Stage(check: "independent", label: $0.name, layers: [$0.node]) }
    }

    /// The metrics between an original map and a new one (both H×W, channel-summed).
    public static func compare(_ original: [Float], _ new: [Float], height: Int, width: Int) -> (Double, Double, Double, Double) {
        let a = original.map(Double.init), b = new.map(Double.init)
        let spearmanAbsolute = MapMetrics.spearman(a.map(abs), b.map(abs))
        let spearmanSigned = MapMetrics.spearman(a, b)
        let na = MapMetrics.normalizedAbsolute(a), nb = MapMetrics.normalizedAbsolute(b)
        let range = (na.max() ?? 0) - (na.min() ?? 0)
        let ssim = MapMetrics.ssim(na, nb, height: height, width: width, dataRange: range > 0 ? range : 1)
        let cell = max(1, min(16, min(height, width) / 2))
        let hog = MapMetrics.spearman(MapMetrics.hog(na, height: height, width: width, cell: cell),
                                      MapMetrics.hog(nb, height: height, width: width, cell: cell))
        return (spearmanAbsolute, spearmanSigned, ssim, hog)
    }

    /// Channel-summed maps `[N][H·W]` of `method` on `model` for every image.
    public func maps(model: Model, method: AttributionMethod, images: Tensor, targets: [Int], baselines: Tensor) throws -> [[Float]] {
        let attributor = try method.attributor(model: model, settings: settings)
        return try (0..<images.shape[0]).map { i in
            let base = baselines.shape[0] == 1 ? baselines : baselines.slice(batch: i..<(i + 1))
            let map = try attributor.attribute(image: images.slice(batch: i..<(i + 1)), target: targets[i], baseline: base)
            return AttributionRendering.channelSum(map.data, channels: map.shape[1])
        }
    }

    /// Which target probabilities may not fall for a perturbed model to be kept: each image's
    /// (maps, as the GGIG paper filters per image), or their mean over the images (concept graphs,
    /// which aggregate the images: per image, none of 50 candidates passed on 16 demo images).
    public enum PerturbationFilter: Sendable {
        case everyImage, meanOverImages
    }

    /// Accepted perturbed models (METHOD §7): N(0, σ²) on every conv/linear weight and bias; a
    /// candidate is kept only if, for every image, the predicted class is unchanged and the
    /// target's softmax probability did not fall (`filter`). Tries at most `maxTries` candidates.
    public func perturbedModels(count: Int, sigma: Float, images: Tensor, targets: [Int], maxTries: Int,
                                filter: PerturbationFilter = .everyImage,
                                rng: inout SamplingRNG) throws -> (models: [Model], tried: Int) {
        guard count > 0 else { throw InputError.invalidParameter(.perturbedModels, "perturbed models must be at least 1, got \(count)") }
        let reference = try Self.predictions(model, images: images, targets: targets)
        var kept = [Model](), tried = 0
        while kept.count < count && tried < maxTries {
            tried += 1
            let candidate = try model.perturbing(sigma: sigma, rng: &rng)
            if Self.preserves(reference, try Self.predictions(candidate, images: images, targets: targets), filter: filter) {
                kept.append(candidate)
            }
        }
        return (kept, tried)
    }

    /// Per image: the predicted class and the target's softmax probability.
    public static func predictions(_ model: Model, images: Tensor, targets: [Int]) throws -> [(predicted: Int, probability: Double)] {
        let logits = try model.forward(images)[model.outputNames.first ?? ""] ?? Tensor(shape: [0])
        let n = images.shape[0], k = logits.count / max(1, n)
        return (0..<n).map { i in
            let row = (0..<k).map { Double(logits.data[i * k + $0]) }
            let top = row.max() ?? 0
            let total = row.reduce(0) { $0 + exp($1 - top) }
            let predicted = row.indices.max { row[$0] < row[$1] } ?? 0
            return (predicted, exp(row[targets[i]] - top) / total)
        }
    }

    /// The perturbation filter: every image keeps its predicted class, and its target probability
    /// (`.everyImage`) or the mean target probability (`.meanOverImages`) did not fall.
    public static func preserves(_ reference: [(predicted: Int, probability: Double)], _ candidate: [(predicted: Int, probability: Double)],
                                 filter: PerturbationFilter = .everyImage) -> Bool {
        guard zip(reference, candidate).allSatisfy({ $1.predicted == $0.predicted }) else { return false }
        switch filter {
        case .everyImage:
            return zip(reference, candidate).allSatisfy { $1.probability >= $0.probability }
        case .meanOverImages:
            return candidate.reduce(0) { $0 + $1.probability } >= reference.reduce(0) { $0 + $1.probability }
        }
    }
}
