/// Settings of concept learning and coding. Defaults follow scikit-learn where it has the same knob.
public struct ConceptOptions: Sendable, Codable, Equatable {
    /// Seed of every random choice (k-means++ seeding); equal seeds give equal banks.
    public var seed: UInt64 = 0
    /// k-means: 2-means runs per bisection, the lowest SSE wins (scikit-learn `n_init`).
    public var restarts: Int = 3
    /// k-means: Lloyd iteration cap per 2-means run (scikit-learn `max_iter`).
    public var kmeansMaxIterations: Int = 300
    /// k-means: stop a 2-means run when the squared centre shift is ≤ tolerance · mean channel
    /// variance of all PFVs, or its labels no longer change (scikit-learn `tol`).
    public var kmeansTolerance: Double = 1e-4
    /// NMF: HALS iteration cap (scikit-learn `max_iter`).
    public var nmfMaxIterations: Int = 200
    /// NMF: stop when the projected-gradient violation of an iteration is ≤ tolerance times that of
    /// the first iteration (scikit-learn `NMF(solver='cd')` rule and `tol`).
    public var nmfTolerance: Double = 1e-4
    /// Coding: λ relative to ‖x‖, i.e. u = argmin ½‖x − Vᵀu‖² + lambda·‖x‖·‖u‖₁.
    /// Default 0.02, chosen by the K study of docs/METHOD.md §3: on the demo model's PFVs it rebuilds
    /// the layers better than 0.1 (the error node's share of the class relevance 5–8 points lower at
    /// K = 16) and orders concepts better in deletion, at the same cost; below 0.02 little changes.
    /// On the planted benchmark PFVs (tools/bench_concepts.py: 100,000 × 512, 1–5 of 256 atoms per
    /// PFV, 3 on average, K = 256) k-means codes have 3.8 non-zeros per PFV at 0.02 and the planted
    /// 3.0 at 0.1 (BENCHMARKS.md, section Concepts).
    public var lambda: Float = ConceptOptions.defaultLambda
    /// Coding: the Lasso, or its support refit by non-negative least squares (METHOD §3; kmeans,
    /// nmf only — learning a PCA or identity bank with `.debiased` throws).
    public var coding: ConceptBank.Coding = .lasso
    /// Coding: coordinate-descent sweep cap per PFV.
    public var codingMaxSweeps: Int = 100
    /// Coding: stop when the largest code change of a sweep is ≤ tolerance · largest |code|.
    public var codingTolerance: Float = 1e-4
    /// Worker threads of our own loops (coordinate descent). Keep threads × OpenBLAS threads ≤ cores.
    public var threads: Int = 1

    /// The documented default of `lambda`.
    public static let defaultLambda: Float = 0.02

    public init() {}
}
