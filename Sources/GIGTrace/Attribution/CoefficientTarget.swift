import Concepts
import Core

/// What a concept target r of the next traced layer measures (METHOD §4, `gigtrace trace --target`).
public enum ConceptTarget: String, Sendable, Codable, CaseIterable {
    /// g_r(Y) = Σ_p m_{p,r} ⟨Y_p, v_r⟩: the projection on r's direction (linear in Y). Where the
    /// bank is not orthogonal it also counts the correlated concepts' share of Y_p.
    case projection
    /// g_r(Y) = Σ_p m_{p,r} u_{p,r}(Y_p): r's code, the non-negative Lasso solution on the active
    /// set S_p fixed from the real forward pass, u_S(y) = G_S⁻¹(V_S y − λ‖y‖·1), G_S = V_S V_Sᵀ
    /// (λ = 0 for debiased codes).
    case coefficient
}

/// The coefficient target of one image (METHOD §4): for every active target r and position p in
/// its mask, g_r(Y) = Σ_p (⟨a_{p,r}, Y_p⟩ − β_{p,r}‖Y_p‖) with a_{p,r} = (G_S⁻¹ V_S)_r and
/// β_{p,r} = λ (G_S⁻¹ 1)_r, S = S_p the concepts active at p in the real layer-b codes. The code's
/// gradient is ∇_{Y_p} u_{p,r} = a_{p,r} − β_{p,r} Y_p/‖Y_p‖, i.e. the Jacobian of u_S at y is
/// G_S⁻¹(V_S − λ·1·yᵀ/‖y‖).
///
/// ```swift
/// let t = try CoefficientTarget(bank: bankB, lambda: bankB.supportLambda, codes: realCodesB, positions: p)
/// let g = t.values(y)   // one g_r per active target, at a layer-b tensor y (C×P)
/// ```
struct CoefficientTarget: Sendable {
    /// The targets with at least one active position, ascending.
    let targets: [Int]
    /// Per active target, the linear part a (C×P, as the layer is laid out; 0 outside the mask).
    let linear: [Float]
    /// Per active target, β_{p,r} (P values; 0 outside the mask).
    let normWeights: [Float]
    let channels: Int
    let positions: Int

    /// `codes` are the real layer-b codes (P×K row-major); `lambda` the λ of the bank's codes on their
    /// support (relative to ‖y‖; `bank.supportLambda`): the bank's λ for Lasso codes, 0 for debiased
    /// codes (least squares on S: u_S = G_S⁻¹V_S y) and for signed codes (PCA codes are linear,
    /// u = V(y − mean), and the mean only shifts g).
    init(bank: ConceptBank, lambda: Float, codes: [Float], positions: Int) throws {
        let k = bank.k, c = bank.channels, vectors = bank.concepts.data
        guard codes.count == positions * k else {
            throw TraceError.shapeMismatch("target codes must be \(positions)×\(k), got \(codes.count) values")
        }
        let lambda = bank.signedCodes ? 0 : Double(lambda)
        var active = [Bool](repeating: false, count: k)
        var rows = [[Int]](repeating: [], count: positions)   // S_p
        for p in 0..<positions {
            rows[p] = (0..<k).filter { bank.isActive(codes[p * k + $0]) }
            for r in rows[p] { active[r] = true }
        }
        let targets = active.indices.filter { active[$0] }
        var slot = [Int](repeating: -1, count: k)
        for (i, r) in targets.enumerated() { slot[r] = i }
        var linear = [Float](repeating: 0, count: targets.count * c * positions)
        var normWeights = [Float](repeating: 0, count: targets.count * positions)
        for p in 0..<positions where !rows[p].isEmpty {
            let s = rows[p], n = s.count
            // G_S⁻¹ in double precision (G_S is symmetric positive definite when V_S has full row rank).
            var gram = [Double](repeating: 0, count: n * n)
            for i in 0..<n {
                for j in 0..<n {
                    var d = 0.0
                    for ch in 0..<c { d += Double(vectors[s[i] * c + ch]) * Double(vectors[s[j] * c + ch]) }
                    gram[i * n + j] = d
                }
            }
            guard let inverse = Self.inverse(gram, n) else {
                throw TraceError.invalidRequest("coefficient target: the \(n) concepts active at position \(p) of the target layer "
                    + "(\(s.map(String.init).joined(separator: ", "))) are linearly dependent; use --target projection")
            }
            for (i, r) in s.enumerated() {
                let t = slot[r]
                var rowSum = 0.0
                for j in 0..<n {
                    let m = inverse[i * n + j]
                    rowSum += m
                    for ch in 0..<c { linear[(t * c + ch) * positions + p] += Float(m * Double(vectors[s[j] * c + ch])) }
                }
                normWeights[t * positions + p] = Float(lambda * rowSum)
            }
        }
        self.targets = targets
        self.linear = linear
        self.normWeights = normWeights
        self.channels = c
        self.positions = positions
    }

    /// g_r at a layer-b tensor `y` (C×P, from `offset`) for each active target, in double precision.
    func values(_ y: [Float], offset: Int = 0) -> [Double] {
        let size = channels * positions
        let norms = Self.positionNorms(y, offset: offset, channels: channels, positions: positions)
        return targets.indices.map { i in
            var s = 0.0
            for j in 0..<size { s += Double(linear[i * size + j]) * Double(y[offset + j]) }
            for p in 0..<positions { s -= Double(normWeights[i * positions + p]) * norms[p] }
            return s
        }
    }

    /// ‖y_p‖ over the channels at each position of a C×P tensor.
    static func positionNorms(_ y: [Float], offset: Int, channels: Int, positions: Int) -> [Double] {
        var norms = [Double](repeating: 0, count: positions)
        for ch in 0..<channels {
            for p in 0..<positions { let v = Double(y[offset + ch * positions + p]); norms[p] += v * v }
        }
        return norms.map { $0.squareRoot() }
    }

    /// y_p/‖y_p‖ at each position (0 where y_p = 0), C×P.
    static func unitDirections(_ y: [Float], offset: Int, channels: Int, positions: Int) -> [Float] {
        let norms = positionNorms(y, offset: offset, channels: channels, positions: positions)
        var out = [Float](repeating: 0, count: channels * positions)
        for ch in 0..<channels {
            for p in 0..<positions where norms[p] > 0 { out[ch * positions + p] = Float(Double(y[offset + ch * positions + p]) / norms[p]) }
        }
        return out
    }

    /// Gauss–Jordan inverse with partial pivoting of an n×n matrix; nil when it is (numerically) singular.
    static func inverse(_ a: [Double], _ n: Int) -> [Double]? {
        var m = a, inv = [Double](repeating: 0, count: n * n)
        for i in 0..<n { inv[i * n + i] = 1 }
        let scale = a.map(abs).max() ?? 0
        for col in 0..<n {
            guard let pivot = (col..<n).max(by: { abs(m[$0 * n + col]) < abs(m[$1 * n + col]) }),
                  abs(m[pivot * n + col]) > 1e-10 * max(scale, 1e-300) else { return nil }
            if pivot != col {
                for j in 0..<n { m.swapAt(pivot * n + j, col * n + j); inv.swapAt(pivot * n + j, col * n + j) }
            }
            let d = m[col * n + col]
            for j in 0..<n { m[col * n + j] /= d; inv[col * n + j] /= d }
            for row in 0..<n where row != col {
                let f = m[row * n + col]
                if f == 0 { continue }
                for j in 0..<n { m[row * n + j] -= f * m[col * n + j]; inv[row * n + j] -= f * inv[col * n + j] }
            }
        }
        return inv
    }
}
