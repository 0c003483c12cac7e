import CNN
import Core

/// The input attribution methods of METHOD §7. Each case maps to one `InputAttributor`; a new
/// method is one more case here and one more type conforming to `InputAttributor`.
///
///     let method = AttributionMethod(rawValue: "ig")   // .integratedGradients
public enum AttributionMethod: String, Sendable, Codable, CaseIterable {
    /// Integrated Gradients with Captum's conventions (`n_steps`, `method`, `baselines`).
    case integratedGradients = "ig"
    /// Captum's `InputXGradient`: x ⊙ ∇_x F_c(x).
    case gradientTimesInput = "gradxinput"
    /// The signed gradient ∇_x F_c(x) (Captum's `Saliency` with `abs=False`).
    case gradient
    /// SRD sharing-ratio relevance of the target logit carried to the input (METHOD §2, §7).
    case srd
    /// Geometrically Guided IG, scale-max form (arXiv 2206.05903; METHOD §7).
    case ggig
    /// Generalized IG (Merrill et al., arXiv 1909.01869; docs/METHOD.md §9): IG plus every jump of
    /// a tree ensemble on the path, with its completeness per sample. Takes any input shape
    /// (images or feature rows) and any graph output (`AttributionSettings.output`).
    case generalizedIG = "generalized-ig"

    /// Whether the method's maps are signed (diverging colours) — all of these are.
    public var isSigned: Bool { true }

    /// A display name for tables and figures.
    public var title: String {
        switch self {
        case .integratedGradients: return "IG"
        case .gradientTimesInput: return "Gradient × Input"
        case .gradient: return "Gradient"
        case .srd: return "SRD"
        case .ggig: return "GGIG"
        case .generalizedIG: return "Generalized IG"
        }
    }
}

/// Settings that some methods read; the defaults are METHOD §7's.
public struct AttributionSettings: Sendable {
    /// IG's quadrature (Captum's `method` and `n_steps`); default Gauss–Legendre, 50 steps.
    public var quadrature: Quadrature
    /// Captum's `internal_batch_size`: scaled copies per forward/backward (nil: chosen from the
    /// model's activation size, `AttributionMath.automaticBatch`; the sum is the same up to rounding).
    public var internalBatchSize: Int?
    /// GGIG's m: points a_k = k/m, k = 0…m.
    public var ggigIntervals: Int = 50
    /// GGIG's gradient-ascent variant: T steps of z ← z + η ∇F_c(z) from each scaled point (nil: scale-max only).
    public var ggigAscent: GGIGAscent?
    /// Generalized IG: the graph output to explain (nil: the first that is not a tree classifier's
    /// label). The other methods explain the first output.
    public var output: String?
    /// Generalized IG: most split-threshold crossings one path may have.
    public var maxCrossings: Int = 100_000

    public init(quadrature: Quadrature, internalBatchSize: Int? = nil, ggigIntervals: Int = 50, ggigAscent: GGIGAscent? = nil,
                output: String? = nil, maxCrossings: Int = 100_000) {
        self.quadrature = quadrature
        self.internalBatchSize = internalBatchSize
        self.ggigIntervals = ggigIntervals
        self.ggigAscent = ggigAscent
        self.output = output
        self.maxCrossings = maxCrossings
    }

    /// Gauss–Legendre with 50 steps, all copies in one batch, GGIG with m = 50 and no ascent.
    public static func standard() throws -> AttributionSettings {
        AttributionSettings(quadrature: try Quadrature(method: .gaussLegendre, steps: 50))
    }
}

/// GGIG's gradient-ascent variant: `steps` (T) updates with step size `rate` (η).
public struct GGIGAscent: Sendable, Equatable {
    public var steps: Int
    public var rate: Float
    /// Throws unless T ≥ 1 and η > 0.
    public init(steps: Int = 200, rate: Float = 1e-4) throws {
        guard steps >= 1 else { throw InputError.invalidParameter(.ascentSteps, "ascent steps must be at least 1, got \(steps)") }
        guard rate > 0, rate.isFinite else { throw InputError.invalidParameter(.ascentRate, "ascent rate must be positive, got \(rate)") }
        self.steps = steps
        self.rate = rate
    }
}

/// One attribution method for one image: the map `[1, C, H, W]` of `image` (`[1, C, H, W]`)
/// for logit `target` of the model's first output, against `baseline` (`[1, C, H, W]`; methods
/// without a baseline ignore it). SRD returns `[1, 1, H, W]` (it shares relevance per position).
/// Generalized IG takes one sample of any shape (`[1, F]` feature rows too) and explains
/// `AttributionSettings.output`.
public protocol InputAttributor: Sendable {
    func attribute(image: Tensor, target: Int, baseline: Tensor) throws -> Tensor
    /// The map with the method's own account of it, when it has one (Generalized IG: f(x),
    /// f(x'), the smooth and jump parts, the crossings and the completeness error).
    func explain(image: Tensor, target: Int, baseline: Tensor) throws -> InputAttribution
}

extension InputAttributor {
    /// The map alone: methods without a completeness account.
    public func explain(image: Tensor, target: Int, baseline: Tensor) throws -> InputAttribution {
        InputAttribution(map: try attribute(image: image, target: target, baseline: baseline), generalizedIG: nil)
    }
}

/// One sample's map and, for Generalized IG, its result with the completeness check.
public struct InputAttribution: Sendable {
    public let map: Tensor
    /// Generalized IG's per-sample account (`completenessError`, `crossings`, …); nil for the other methods.
    public let generalizedIG: GeneralizedIntegratedGradients.Result?
}

extension AttributionMethod {
    /// The attributor of this method on `model` with `settings`.
    ///
    ///     let ig = try AttributionMethod.integratedGradients.attributor(model: m, settings: .standard())
    ///     let map = try ig.attribute(image: x, target: 3, baseline: Tensor(shape: x.shape))
    public func attributor(model: Model, settings: AttributionSettings) throws -> any InputAttributor {
        switch self {
        case .integratedGradients:
            return IntegratedGradients(model: model, quadrature: settings.quadrature, internalBatchSize: settings.internalBatchSize)
        case .gradientTimesInput:
            return GradientTimesInput(model: model, timesInput: true)
        case .gradient:
            return GradientTimesInput(model: model, timesInput: false)
        case .srd:
            return try SRDSaliency(model: model)
        case .ggig:
            return GeometricallyGuidedIG(model: model, intervals: settings.ggigIntervals, ascent: settings.ggigAscent,
                                         internalBatchSize: settings.internalBatchSize)
        case .generalizedIG:
            return try GeneralizedIGAttributor(model: model, settings: settings)
        }
    }

    /// The graph output whose element `target` the method explains: `settings.output` (or its
    /// default) for Generalized IG, the first output for the others.
    public func explainedOutput(model: Model, settings: AttributionSettings) -> String {
        switch self {
        case .generalizedIG: return settings.output ?? GeneralizedIntegratedGradients.defaultOutput(of: model)
        default: return model.outputNames.first ?? ""
        }
    }
}

/// Shared pieces of the gradient-based methods.
enum AttributionMath {
    /// Checks `image` is `[1, C, H, W]` and `baseline` has its shape.
    static func check(_ image: Tensor, _ baseline: Tensor) throws {
        guard image.rank == 4, image.shape[0] == 1 else {
            throw TraceError.shapeMismatch("attribution takes one image [1, C, H, W], got \(image.shape)")
        }
        guard baseline.shape == image.shape else {
            throw TraceError.shapeMismatch("baseline \(baseline.shape) does not match the image \(image.shape)")
        }
    }

    /// Gradients of logit `target` at x' + α_k (x − x') for every α, `[K, C, H, W]`, in batches of
    /// `batch` copies (all at once when nil): `body(first, gradients)` gets each chunk.
    static func pathGradients(model: Model, image: Tensor, baseline: Tensor, alphas: [Float], target: Int,
                              batch: Int?, _ body: (Int, Tensor) throws -> Void) throws {
        for range in batches(alphas.count, size: batch) {
            let scaled = pathPoints(from: baseline, to: image, alphas: alphas, range: range)
            try body(range.lowerBound, try model.gradient(scaled, classes: [Int](repeating: target, count: range.count)))
        }
    }

    /// The bytes of activations one forward/backward chunk may hold per engine thread when the
    /// caller gives no `internal_batch_size`. A memory bound, not a cache size: one sample's
    /// tensors are already tens of MB at ImageNet size. Past a few samples per thread the GEMMs
    /// are no wider and the bigger chunk costs first-touch page faults and memory traffic
    /// (ResNet-18 IG, 50 steps, 2 threads: 0.5 s more system time and 0.8 GB more peak memory with
    /// all 50 copies in one chunk than with 10–16).
    static let chunkBytesPerThread = 128 << 20

    /// Copies per chunk for `count` path points on `model` when the caller gives none: as many as
    /// keep the activations of one chunk (every tensor the model computes, per sample, from
    /// `Model.tensorShapes`) within `bytesPerThread` per thread, at least one per thread, then
    /// the smallest size that needs no more chunks than that (ResNet-18 at 224, 23 MB a sample,
    /// 2 threads: at most 10, 50 copies as 5 chunks of 10). All at once when the model declares
    /// no per-sample shapes.
    static func automaticBatch(model: Model, count: Int, bytesPerThread: Int = chunkBytesPerThread) -> Int {
        let perSample = model.nodes.reduce(0) { sum, node in
            sum + (model.tensorShapes[node.output].map { $0.reduce(1, *) * MemoryLayout<Float>.size } ?? 0)
        }
        guard perSample > 0, count > 0 else { return max(1, count) }
        let threads = max(1, model.threads)
        let most = threads * max(1, bytesPerThread / perSample)
        let chunks = (count + most - 1) / most
        return (count + chunks - 1) / chunks
    }

    /// `0..<count` in consecutive ranges of `size` (one range when nil): Captum's `internal_batch_size`.
    static func batches(_ count: Int, size: Int?) -> [Range<Int>] {
        let chunk = max(1, size ?? count)
        return stride(from: 0, to: count, by: chunk).map { $0..<min(count, $0 + chunk) }
    }

    /// start + α_k (end − start) for the α of `range`, `[range.count, ...]` (`start` and `end` are
    /// `[1, ...]`): the path's points, at the input or at an affine prefix's output.
    static func pathPoints(from start: Tensor, to end: Tensor, alphas: [Float], range: Range<Int>) -> Tensor {
        let size = start.count
        let data = Buffers.make(range.count * size) { out in
            start.data.withUnsafeBufferPointer { s in
                end.data.withUnsafeBufferPointer { e in
                    for (i, k) in range.enumerated() {
                        let a = alphas[k], row = out.baseAddress! + i * size
                        for j in 0..<size { row[j] = s[j] + a * (e[j] - s[j]) }
                    }
                }
            }
        }
        return Tensor(uncheckedShape: [range.count] + Array(start.shape.dropFirst()), data: data)
    }
}
