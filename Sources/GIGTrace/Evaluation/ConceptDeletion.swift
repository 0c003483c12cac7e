import CNN
import Core

/// Concept deletion and insertion for one image and one traced layer a (METHOD §8), for one or
/// more targets read in the same forward passes.
///
/// Layer a is split into its concepts' contributions x_q (v_q u_{p,q} at every position p) and a
/// fixed part that no order touches: PCA's mean and, with the error node, E = X − X̃. For an order
/// of the K concepts, **deletion** evaluates a target at fixed + Σ of the concepts not yet deleted,
/// k = 0…K (k = 0 is the full layer), **insertion** at fixed + Σ of the first k concepts (k = 0 is
/// the baseline with every code 0). A target is linear in one tensor of F: t(Y) = ⟨w, Y⟩ (a
/// logit: w one-hot; a concept of the next traced layer: its masked direction, as GIG's targets).
/// Deletion and insertion curves are divided by t at the full layer; AUC is the trapezoid over k/K.
/// Every point is a set of concepts, and each distinct set of the image is evaluated once (orders
/// share the full layer, the baseline, the single concepts and the leave-one-outs, and an order and
/// its reverse share all their points), all in one batch through F (chunks of `chunkRows` rows),
/// every target read from the same pass. (Sums use plain loops, not BLAS level 1: OpenBLAS threads
/// its saxpy, which on a busy machine costs far more in thread hand-offs than it saves.)
///
/// ```swift
/// let d = try ConceptDeletion(subnetwork: sub, contributions: x, fixed: e,
///                             targets: [.init(tensor: sub.to, weights: w, gradientNetwork: sub)])
/// let (curves, ends) = try d.curves(orders: [gigOrder] + randomOrders)   // curves[target][order]
/// ```
public struct ConceptDeletion: Sendable {
    /// A target: t(Y) = ⟨weights, tensor⟩ (one image's values of `tensor`, which F computes),
    /// minus Σ_p β_p ‖Y_p‖ with `normWeights` β (one per position of a C×P tensor) for the
    /// coefficient target (METHOD §4).
    public struct Target: Sendable {
        public var tensor: String
        public var weights: [Float]
        /// The sub-network from layer a to `tensor`, for gradient × activation.
        public var gradientNetwork: Subnetwork
        public var normWeights: [Float]?

        public init(tensor: String, weights: [Float], gradientNetwork: Subnetwork, normWeights: [Float]? = nil) {
            self.tensor = tensor
            self.weights = weights
            self.gradientNetwork = gradientNetwork
            self.normWeights = normWeights
        }

        /// t at one image's values `y` of the tensor (from `offset`).
        func value(_ y: [Float], offset: Int) -> Double {
            let n = weights.count
            var s = 0.0
            for j in 0..<n where weights[j] != 0 { s += Double(weights[j]) * Double(y[offset + j]) }
            if let beta = normWeights, !beta.isEmpty {
                let norms = CoefficientTarget.positionNorms(y, offset: offset, channels: n / beta.count, positions: beta.count)
                for p in beta.indices where beta[p] != 0 { s -= Double(beta[p]) * norms[p] }
            }
            return s
        }

        /// ∇_Y t at `y`: the weights, minus β_p Y_p/‖Y_p‖ for the coefficient target.
        func gradient(at y: [Float]) -> [Float] {
            guard let beta = normWeights, !beta.isEmpty else { return weights }
            let p = beta.count, c = weights.count / p
            let unit = CoefficientTarget.unitDirections(y, offset: 0, channels: c, positions: p)
            return weights.indices.map { weights[$0] - beta[$0 % p] * unit[$0] }
        }
    }

    public let subnetwork: Subnetwork
    /// K rows of C·P values: concept q's contribution x_q to layer a (layout of the layer).
    public let contributions: [[Float]]
    /// What stays in every point: PCA's mean and E with the error node (zeros otherwise).
    public let fixed: [Float]
    public let targets: [Target]
    /// Rows per forward batch (memory knob).
    public var chunkRows = 64

    public init(subnetwork: Subnetwork, contributions: [[Float]], fixed: [Float], targets: [Target]) throws {
        guard let shape = subnetwork.model.tensorShapes[subnetwork.from] else {
            throw TraceError.invalidRequest("internal: deletion sub-network has no shapes")
        }
        let size = shape.reduce(1, *)
        guard fixed.count == size, contributions.allSatisfy({ $0.count == size }) else {
            throw TraceError.shapeMismatch("deletion of '\(subnetwork.from)': contributions or fixed part do not fit the layer")
        }
        for t in targets {
            guard let out = subnetwork.model.tensorShapes[t.tensor], out.reduce(1, *) == t.weights.count,
                  t.gradientNetwork.from == subnetwork.from, t.gradientNetwork.to == t.tensor,
                  t.normWeights.map({ !$0.isEmpty && t.weights.count % $0.count == 0 }) ?? true else {
                throw TraceError.shapeMismatch("deletion target at '\(t.tensor)': weights or sub-network do not fit")
            }
        }
        self.subnetwork = subnetwork
        self.contributions = contributions
        self.fixed = fixed
        self.targets = targets
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

    /// A target at the full layer (fixed + every concept) and at the baseline (fixed only).
    public struct Ends: Sendable, Equatable {
        public var full: Double
        public var baseline: Double
    }

    /// Curves of every order (each a permutation of 0..<K) for every target, `curves[target][order]`,
    /// and each target's end points.
    public func curves(orders: [[Int]]) throws -> (curves: [[Curves]], ends: [Ends]) {
        let k = count, words = (k + 63) / 64
        for order in orders where order.sorted() != Array(0..<k) {
            throw TraceError.invalidRequest("internal: a deletion order must be a permutation of the \(k) concepts")
        }
        // Each point is the set of concepts present; distinct sets get one row each.
        var rowOf = [[UInt64]: Int](), sets = [[UInt64]]()
        func row(_ set: [UInt64]) -> Int {
            if let r = rowOf[set] { return r }
            rowOf[set] = sets.count
            sets.append(set)
            return sets.count - 1
        }
        let all = (0..<words).map { w in k - 64 * w >= 64 ? UInt64.max : (UInt64(1) << UInt64(k - 64 * w)) - 1 }
        let none = [UInt64](repeating: 0, count: words)
        let fullRow = row(all), baseRow = row(none)
        var deletionRows = [[Int]](), insertionRows = [[Int]]()
        for order in orders {
            var present = all, added = none
            var d = [fullRow], i = [baseRow]
            for q in order {
                present[q / 64] &= ~(UInt64(1) << UInt64(q % 64))
                added[q / 64] |= UInt64(1) << UInt64(q % 64)
                d.append(row(present))
                i.append(row(added))
            }
            deletionRows.append(d)
            insertionRows.append(i)
        }
        let values = try evaluate(sets)
        var result = [[Curves]](), ends = [Ends]()
        for t in targets.indices {
            let full = values[fullRow][t]
            ends.append(Ends(full: full, baseline: values[baseRow][t]))
            result.append(orders.indices.map { o in
                let dc = deletionRows[o].map { values[$0][t] / full }, ic = insertionRows[o].map { values[$0][t] / full }
                return Curves(deletion: dc, insertion: ic, deletionAUC: Self.area(dc), insertionAUC: Self.area(ic))
            })
        }
        return (result, ends)
    }

    /// Gradient × activation of every concept for target `t`: ⟨∇_X t(F(X)), x_q⟩ at the full layer
    /// X (one backward pass).
    public func gradientTimesActivation(target t: Int) throws -> [Double] {
        let target = targets[t]
        guard let shape = subnetwork.model.tensorShapes[subnetwork.from],
              let outShape = subnetwork.model.tensorShapes[target.tensor] else { return [] }
        var full = fixed
        for x in contributions { for j in full.indices { full[j] += x[j] } }
        let sub = target.gradientNetwork
        let tape = try sub.forward(Tensor(uncheckedShape: [1] + shape, data: full))
        let gradient = try sub.backward(tape, cotangent: Tensor(uncheckedShape: [1] + outShape, data: target.gradient(at: tape.output.data)))
        return contributions.map { x in zip(x, gradient.data).reduce(0.0) { $0 + Double($1.0) * Double($1.1) } }
    }

    /// Every target at every concept set (rows × targets), in chunks of `chunkRows` rows.
    ///
    /// F's affine part (the ops before its first non-linearity: the next block's convolutions, or
    /// all of F when it is affine, as pooling + a linear head) runs once per concept, not once per
    /// set: with f the affine frontier (`Subnetwork.affineFrontier`), f(fixed + Σ_S x_q) =
    /// f(fixed) + Σ_S (f(x_q) − f(0)), and only the nodes after the frontier run for every set.
    func evaluate(_ sets: [[UInt64]]) throws -> [[Double]] {
        guard let shape = subnetwork.model.tensorShapes[subnetwork.from] else { return [] }
        let size = fixed.count
        let keep = Set(targets.map(\.tensor)).subtracting([subnetwork.to])
        let names = subnetwork.affineFrontier(keep: keep)
        // Rows 0, fixed, x_1 … x_K through the affine part.
        var parts = [Float](repeating: 0, count: (count + 2) * size)
        parts.replaceSubrange(size..<(2 * size), with: fixed)
        for q in 0..<count { parts.replaceSubrange(((q + 2) * size)..<((q + 3) * size), with: contributions[q]) }
        let affine = try subnetwork.affineForward(Tensor(uncheckedShape: [count + 2] + shape, data: parts), frontier: names)
        // Per frontier tensor: f(fixed) and f(x_q) − f(0).
        var base = [[Float]](), terms = [[[Float]]](), shapes = [[Int]]()
        for name in names {
            guard let t = affine[name] else { throw ModelError.unknownTensor(name, available: names) }
            let n = t.count / (count + 2)
            let zero = Array(t.data[0..<n])
            base.append(Array(t.data[n..<(2 * n)]))
            terms.append((0..<count).map { q in (0..<n).map { t.data[(q + 2) * n + $0] - zero[$0] } })
            shapes.append(Array(t.shape.dropFirst()))
        }
        var out = [[Double]]()
        out.reserveCapacity(sets.count)
        var first = 0
        while first < sets.count {
            let chunk = sets[first..<min(first + max(1, chunkRows), sets.count)]
            var seeds = [String: Tensor]()
            for (f, name) in names.enumerated() {
                let n = base[f].count
                var input = [Float](repeating: 0, count: chunk.count * n)
                input.withUnsafeMutableBufferPointer { buffer in
                    for (i, set) in chunk.enumerated() {
                        let dst = buffer.baseAddress! + i * n
                        base[f].withUnsafeBufferPointer { dst.update(from: $0.baseAddress!, count: n) }
                        for q in 0..<count where set[q / 64] & (UInt64(1) << UInt64(q % 64)) != 0 {
                            terms[f][q].withUnsafeBufferPointer { x in
                                for j in 0..<n { dst[j] += x[j] }
                            }
                        }
                    }
                }
                seeds[name] = Tensor(uncheckedShape: [chunk.count] + shapes[f], data: input)
            }
            let values = try subnetwork.forward(frontier: seeds, keep: keep)
            let tensors = try targets.map { t -> [Float] in
                guard let v = values[t.tensor] else {
                    throw ModelError.unknownTensor(t.tensor, available: [subnetwork.to] + Array(keep))
                }
                return v.data
            }
            for i in 0..<chunk.count {
                out.append(targets.indices.map { t in targets[t].value(tensors[t], offset: i * targets[t].weights.count) })
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
