import CNN
import COpenBLAS
import Core

/// Integrated Gradients exactly as Captum's `IntegratedGradients.attribute`: the scaled inputs
/// x' + α_k (x − x') at the quadrature's points (Captum's `method`, `n_steps`), their gradients
/// of logit c summed with the quadrature's weights (`step_sizes`), times (x − x').
///
/// When the network starts with an affine part (a first Conv before the first Relu/MaxPool,
/// `AffinePrefix`), that part runs twice (at x' and x) instead of once per step, and the weighted
/// gradients are summed at its output and pulled back through it once: the same map up to float
/// rounding (`affinePrefix: false` runs every step through the whole network).
///
///     let ig = IntegratedGradients(model: m, quadrature: try Quadrature(method: .gaussLegendre, steps: 50))
///     let map = try ig.attribute(image: x, target: 3, baseline: Tensor(shape: x.shape))
public struct IntegratedGradients: InputAttributor {
    public let model: Model
    public let quadrature: Quadrature
    /// Captum's `internal_batch_size`: scaled copies per forward/backward (nil: chosen from the
    /// model's activation size, `AttributionMath.automaticBatch`).
    public let internalBatchSize: Int?
    /// Whether an affine first part of the network is evaluated twice instead of once per step.
    public let affinePrefix: Bool

    public init(model: Model, quadrature: Quadrature, internalBatchSize: Int? = nil, affinePrefix: Bool = true) {
        self.model = model
        self.quadrature = quadrature
        self.internalBatchSize = internalBatchSize
        self.affinePrefix = affinePrefix
    }

    public func attribute(image: Tensor, target: Int, baseline: Tensor) throws -> Tensor {
        try AttributionMath.check(image, baseline)
        if affinePrefix, let split = AffinePrefix(model: model, output: model.outputNames.first ?? "") {
            return try attribute(through: split, image: image, target: target, baseline: baseline)
        }
        let size = image.count
        var total = [Float](repeating: 0, count: size)
        let weights = quadrature.weights.map(Float.init)
        try AttributionMath.pathGradients(model: model, image: image, baseline: baseline, alphas: quadrature.alphas.map(Float.init),
                                          target: target, batch: chunk) { first, g in
            for i in 0..<(g.shape[0]) {
                g.data.withUnsafeBufferPointer { p in
                    cblas_saxpy(Int32(size), weights[first + i], p.baseAddress! + i * size, 1, &total, 1)
                }
            }
        }
        for j in 0..<size { total[j] *= image.data[j] - baseline.data[j] }
        return Tensor(uncheckedShape: image.shape, data: total)
    }

    /// Copies per forward/backward: `internalBatchSize`, or the automatic choice.
    var chunk: Int { internalBatchSize ?? AttributionMath.automaticBatch(model: model, count: quadrature.alphas.count) }

    /// IG with the affine prefix A: the steps start from A(x') + α_k (A(x) − A(x')), their
    /// gradients are summed with the weights at A's output, and that sum is pulled back to the
    /// input once (Jᵀ, A's transposed linear part).
    private func attribute(through split: AffinePrefix, image: Tensor, target: Int, baseline: Tensor) throws -> Tensor {
        let alphas = quadrature.alphas.map(Float.init), weights = quadrature.weights.map(Float.init)
        let (start, end) = try split.ends(image: image, baseline: baseline)
        var summed: Tensor?
        for range in AttributionMath.batches(alphas.count, size: chunk) {
            let tape = try split.rest.forward(AttributionMath.pathPoints(from: start, to: end.output, alphas: alphas, range: range))
            let block = try split.seed(target: target, rows: 1, output: tape.output)
            let g = try split.rest.backwardSum(tape, block: block, weights: Array(weights[range]))
            if var total = summed {
                for j in 0..<total.count { total.data[j] += g.data[j] }
                summed = total
            } else {
                summed = g
            }
        }
        guard let atPrefixOutput = summed else { throw ModelError.invalidArgument("internal: IG without steps") }
        var map = try split.prefix.backwardSum(end, block: atPrefixOutput, weights: [1])
        for j in 0..<map.count { map.data[j] *= image.data[j] - baseline.data[j] }
        return Tensor(uncheckedShape: image.shape, data: map.data)
    }
}

/// The gradient of logit c at the image, optionally times the image (Captum's `InputXGradient`;
/// without it, Captum's `Saliency` with `abs=False`).
///
///     let map = try GradientTimesInput(model: m, timesInput: true).attribute(image: x, target: 3, baseline: x)
public struct GradientTimesInput: InputAttributor {
    public let model: Model
    public let timesInput: Bool

    public init(model: Model, timesInput: Bool) {
        self.model = model
        self.timesInput = timesInput
    }

    public func attribute(image: Tensor, target: Int, baseline: Tensor) throws -> Tensor {
        try AttributionMath.check(image, baseline)
        var g = try model.gradient(image, classes: [target])
        if timesInput { for j in 0..<g.count { g.data[j] *= image.data[j] } }
        return g
    }
}

/// Geometrically Guided IG (Rahman, Lewis, Plis; arXiv 2206.05903), METHOD §7:
/// S = (x − x') ⊙ max_k ∇F_c(x' + a_k (x − x')), a_k = k/m, k = 0…m, the maximum taken per
/// feature over the signed gradients. With `ascent`, every scaled point z_k also takes T steps
/// z ← z + η ∇F_c(z) and the maximum runs over the T gradients met on the way from each point
/// (the gradient at z_k itself first); all m + 1 points go through each step as one batch.
///
///     let ggig = GeometricallyGuidedIG(model: m, intervals: 50)
///     let map = try ggig.attribute(image: x, target: 3, baseline: Tensor(shape: x.shape))
public struct GeometricallyGuidedIG: InputAttributor {
    public let model: Model
    /// m (the points are k/m for k = 0…m).
    public let intervals: Int
    public let ascent: GGIGAscent?
    public let internalBatchSize: Int?
    /// Whether an affine first layer (`AffinePrefix`) runs twice instead of once per point (the
    /// scale-max form; the ascent variant moves the points off the line and runs it all).
    public let affinePrefix: Bool

    public init(model: Model, intervals: Int = 50, ascent: GGIGAscent? = nil, internalBatchSize: Int? = nil, affinePrefix: Bool = true) {
        self.model = model
        self.intervals = max(1, intervals)
        self.ascent = ascent
        self.internalBatchSize = internalBatchSize
        self.affinePrefix = affinePrefix
    }

    /// The points a_k = k/m.
    public var alphas: [Float] { (0...intervals).map { Float($0) / Float(intervals) } }

    public func attribute(image: Tensor, target: Int, baseline: Tensor) throws -> Tensor {
        try AttributionMath.check(image, baseline)
        let size = image.count
        var best = [Float](repeating: -.infinity, count: size)
        func keepMaximum(_ g: Tensor) {
            g.data.withUnsafeBufferPointer { p in
                for i in 0..<(g.count / size) {
                    let row = p.baseAddress! + i * size
                    for j in 0..<size where row[j] > best[j] { best[j] = row[j] }
                }
            }
        }
        if let ascent {
            try climb(image: image, baseline: baseline, target: target, ascent: ascent, keepMaximum)
        } else if affinePrefix, let split = AffinePrefix(model: model, output: model.outputNames.first ?? "") {
            // The points' affine first layer from two evaluations; each point's gradient is still
            // pulled back through it (the maximum is per point, not a sum).
            let (start, end) = try split.ends(image: image, baseline: baseline)
            let points = alphas
            for range in AttributionMath.batches(points.count, size: chunk) {
                let tape = try split.rest.forward(AttributionMath.pathPoints(from: start, to: end.output, alphas: points, range: range))
                let seed = try split.seed(target: target, rows: range.count, output: tape.output)
                keepMaximum(try split.prefix.backward(end, cotangent: try split.rest.backward(tape, cotangent: seed)))
            }
        } else {
            try AttributionMath.pathGradients(model: model, image: image, baseline: baseline, alphas: alphas, target: target,
                                              batch: chunk) { _, g in keepMaximum(g) }
        }
        for j in 0..<size { best[j] *= image.data[j] - baseline.data[j] }
        return Tensor(uncheckedShape: image.shape, data: best)
    }

    /// Points per forward/backward: `internalBatchSize`, or the automatic choice.
    var chunk: Int { internalBatchSize ?? AttributionMath.automaticBatch(model: model, count: intervals + 1) }

    /// The ascent variant: the m + 1 scaled points (in chunks of `chunk`) each take T
    /// gradient steps; `keep` sees every gradient.
    private func climb(image: Tensor, baseline: Tensor, target: Int, ascent: GGIGAscent, _ keep: (Tensor) -> Void) throws {
        let points = alphas
        for range in AttributionMath.batches(points.count, size: chunk) {
            var z = AttributionMath.pathPoints(from: baseline, to: image, alphas: points, range: range)
            let classes = [Int](repeating: target, count: range.count)
            for _ in 0..<ascent.steps {
                let g = try model.gradient(z, classes: classes)
                keep(g)
                cblas_saxpy(Int32(z.count), ascent.rate, g.data, 1, &z.data, 1)
            }
        }
    }
}
