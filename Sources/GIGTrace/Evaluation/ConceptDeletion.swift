import CNN
import COpenBLAS
import Core

/// Concept deletion and insertion for one image, one traced layer a and one target (METHOD §8).
///
/// Layer a is split into its concepts' contributions x_q (v_q u_{p,q} at every position p) and a
/// fixed part that no order touches: PCA's mean and, with the error node, E = X − X̃. For an order
/// of the K concepts, **deletion** evaluates the target at fixed + Σ of the concepts not yet
/// deleted, k = 0…K (k = 0 is the full layer), **insertion** at fixed + Σ of the first k concepts
/// (k = 0 is the baseline with every code 0). The target is linear in F_ab's output: t(Y) = ⟨w, Y⟩
/// (a logit: w one-hot; a concept of layer b: its masked direction, as GIG's targets). Deletion
/// curves are divided by t at k = 0, insertion curves by t at k = K; AUC is the trapezoid over k/K.
/// All points of all orders of the image go through the sub-network as one batch (split in chunks
/// of `chunkRows` rows).
///
/// ```swift
/// let d = try ConceptDeletion(subnetwork: sub, contributions: x, fixed: e, weights: w)
/// let curves = try d.curves(orders: [gigOrder] + randomOrders)
/// ```
public struct ConceptDeletion: Sendable {
    public let subnetwork: Subnetwork
    /// K rows of C·P values: concept q's contribution x_q to layer a (layout of the layer).
    public let contributions: [[Float]]
    /// What stays in every point: PCA's mean and E with the error node (zeros otherwise).
    public let fixed: [Float]
    /// The target's weights over F_ab's output (one image's output size).
    public let weights: [Float]
    /// Rows per forward batch (memory knob).
    public var chunkRows = 128

    public init(subnetwork: Subnetwork, contributions: [[Float]], fixed: [Float], weights: [Float]) throws {
        guard let shape = subnetwork.model.tensorShapes[subnetwork.from],
              let outShape = subnetwork.model.tensorShapes[subnetwork.to] else {
            throw CNNError.invalidInput("internal: deletion sub-network has no shapes")
        }
        let size = shape.reduce(1, *)
        guard fixed.count == size, contributions.allSatisfy({ $0.count == size }), weights.count == outShape.reduce(1, *) else {
            throw CNNError.shapeMismatch("deletion of '\(subnetwork.from)': contributions, fixed part or target weights do not fit the layers")
        }
        self.subnetwork = subnetwork
        self.contributions = contributions
        self.fixed = fixed
        self.weights = weights
    }

    /// The number of concepts K.
    public var count: Int { contributions.count }

    /// One order's normalised curves (K + 1 points each) and their areas.
    public struct Curves: Sendable, Equatable {
        public var deletion: [Double]
        public var insertion: [Double]
        public var deletionAUC: Double
        public var insertionAUC: Double
    }

    /// The target at the full layer (fixed + every concept) and at the baseline (fixed only).
    public struct Ends: Sendable, Equatable {
        public var full: Double
        public var baseline: Double
    }

    /// Curves of every order (each a permutation of 0..<K), and the two shared end points. The
    /// full layer and the baseline are evaluated once; every order adds its 2(K − 1) inner points.
    public func curves(orders: [[Int]]) throws -> (curves: [Curves], ends: Ends) {
        let k = count, size = fixed.count
        for order in orders where order.sorted() != Array(0..<k) {
            throw CNNError.invalidInput("internal: a deletion order must be a permutation of the \(k) concepts")
        }
        var full = fixed
        for x in contributions { cblas_saxpy(Int32(size), 1, x, 1, &full, 1) }
        // Rows: full, baseline, then per order deletion k = 1..K−1 and insertion k = 1..K−1.
        var points: [[Float]] = [full, fixed]
        for order in orders where k > 1 {
            var current = full
            for q in order.prefix(k - 1) {
                cblas_saxpy(Int32(size), -1, contributions[q], 1, &current, 1)
                points.append(current)
            }
            current = fixed
            for q in order.prefix(k - 1) {
                cblas_saxpy(Int32(size), 1, contributions[q], 1, &current, 1)
                points.append(current)
            }
        }
        let values = try targets(points)
        let ends = Ends(full: values[0], baseline: values[1])
        var result = [Curves]()
        for (o, _) in orders.enumerated() {
            let inner = k > 1 ? 2 + o * 2 * (k - 1) : 2
            var deletion = [ends.full], insertion = [ends.baseline]
            if k > 1 {
                deletion += values[inner..<(inner + k - 1)]
                insertion += values[(inner + k - 1)..<(inner + 2 * (k - 1))]
            }
            deletion.append(ends.baseline)
            insertion.append(ends.full)
            let d = deletion.map { $0 / ends.full }, i = insertion.map { $0 / ends.full }
            result.append(Curves(deletion: d, insertion: i, deletionAUC: Self.area(d), insertionAUC: Self.area(i)))
        }
        return (result, ends)
    }

    /// Gradient × activation of every concept: ⟨∇_X t(F(X)), x_q⟩ at the full layer X (one backward pass).
    public func gradientTimesActivation() throws -> [Double] {
        guard let shape = subnetwork.model.tensorShapes[subnetwork.from],
              let outShape = subnetwork.model.tensorShapes[subnetwork.to] else { return [] }
        var full = fixed
        for x in contributions { cblas_saxpy(Int32(fixed.count), 1, x, 1, &full, 1) }
        let tape = try subnetwork.forward(Tensor(uncheckedShape: [1] + shape, data: full))
        let gradient = try subnetwork.backward(tape, cotangent: Tensor(uncheckedShape: [1] + outShape, data: weights))
        return contributions.map { x in Double(cblas_sdot(Int32(x.count), x, 1, gradient.data, 1)) }
    }

    /// t(F(x)) for every row, in chunks of `chunkRows`.
    func targets(_ rows: [[Float]]) throws -> [Double] {
        guard let shape = subnetwork.model.tensorShapes[subnetwork.from] else { return [] }
        let size = fixed.count, outSize = weights.count
        var out = [Double]()
        out.reserveCapacity(rows.count)
        var first = 0
        while first < rows.count {
            let chunk = rows[first..<min(first + max(1, chunkRows), rows.count)]
            var input = [Float]()
            input.reserveCapacity(chunk.count * size)
            for r in chunk { input.append(contentsOf: r) }
            let y = try subnetwork.forward(Tensor(uncheckedShape: [chunk.count] + shape, data: input)).output.data
            for i in 0..<chunk.count {
                var s = 0.0
                for j in 0..<outSize { s += Double(weights[j]) * Double(y[i * outSize + j]) }
                out.append(s)
            }
            first += chunk.count
        }
        return out
    }

    /// Trapezoid area of a curve sampled at k/K, k = 0…K.
    public static func area(_ curve: [Double]) -> Double {
        guard curve.count > 1 else { return curve.first ?? 0 }
        var s = 0.0
        for k in 0..<(curve.count - 1) { s += (curve[k] + curve[k + 1]) / 2 }
        return s / Double(curve.count - 1)
    }

    /// The order of `scores`, largest first (ties: lower index first).
    public static func order(byDescending scores: [Double]) -> [Int] {
        scores.indices.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }
    }
}
