import Core

/// Principal component analysis of PFVs (METHOD §3): the top-K right singular vectors of the
/// centred PFVs (LAPACK dsyevr on the centred Gram matrix XᵀX − N·μμᵀ when N ≥ 2C, else sgesdd), signs as
/// scikit-learn's. Codes are u = V(x − mean); the mean is kept for x̃ = mean + Vᵀu.
public enum PCA {
    /// Principal directions and the variance they explain.
    public struct Result: Sendable {
        /// K×C orthonormal directions, by decreasing variance.
        public var components: Matrix
        /// Mean PFV, length C.
        public var mean: [Float]
        /// Variance along each direction, σ²/(N − 1) (scikit-learn `explained_variance_`).
        public var explainedVariance: [Double]
        /// Total variance of the PFVs, Σ‖x − mean‖²/(N − 1).
        public var totalVariance: Double
    }

    /// The top `k` ≤ min(N, C) principal directions of `pfvs` (N×C).
    public static func fit(_ pfvs: Matrix, k: Int) throws -> Result {
        let n = pfvs.rows, c = pfvs.cols
        guard k >= 1, k <= min(n, c) else {
            throw ConceptError.invalidRequest("PCA: K = \(k) must be between 1 and min(PFVs, channels) = \(min(n, c))")
        }
        return try pfvs.data.withUnsafeBufferPointer { pp in
            let p = pp.baseAddress!
            let mean = Linalg.columnMeans(p, rows: n, cols: c)
            let (sigma, dirs, sumOfSquares) = try Linalg.topRightSingular(p, rows: n, cols: c, mean: mean, k: k)
            let dof = Double(max(1, n - 1))
            let total = sumOfSquares / dof
            return Result(components: dirs, mean: mean, explainedVariance: sigma.map { $0 * $0 / dof },
                          totalVariance: total)
        }
    }
}
