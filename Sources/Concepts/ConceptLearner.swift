import Core

/// Learns a layer's concept bank from sampled PFVs (METHOD §3) and measures its quality.
public enum ConceptLearner {
    /// Learns K concepts of `pfvs` (N×C) by `method`, codes the same PFVs, and reports quality.
    /// `sample` records where the PFVs came from (default: `options.seed`, N).
    /// Throws on empty, non-finite or all-zero PFVs, K out of range for the method (kmeans: K ≤ N and
    /// at most the number of distinct PFVs; nmf, pca: K ≤ min(N, C); identity: K = C), or negative
    /// PFVs for nmf, or debiased coding of a pca / identity bank. `progress(done, total)` reports k-means splits or NMF iterations (for a progress
    /// display).
    public static func learn(
        pfvs: Matrix, k: Int, method: ConceptMethod, options: ConceptOptions = ConceptOptions(),
        layer: String = "", sample: ConceptSample? = nil, progress: ((_ done: Int, _ total: Int) -> Void)? = nil
    ) throws -> ConceptBank {
        guard pfvs.rows >= 1, pfvs.cols >= 1 else {
            throw ConceptError.invalidPFVs("no PFVs to learn concepts from (\(pfvs.rows)×\(pfvs.cols)) for layer '\(layer)'")
        }
        try checkFinite(pfvs)
        if let problem = ConceptBank.codingProblem(method: method, coding: options.coding) {
            throw ConceptError.invalidRequest("layer '\(layer)': \(problem)")
        }
        if method != .identity && pfvs.data.allSatisfy({ $0 == 0 }) {
            throw ConceptError.invalidPFVs("all \(pfvs.rows) PFVs of layer '\(layer)' are zero: no concept direction can be learned")
        }
        let concepts: Matrix
        var mean: [Float]?
        switch method {
        case .kmeans:
            concepts = try BisectingKMeans.fit(pfvs, k: k, options: options, progress: progress).centroids
        case .nmf:
            concepts = try NMF.fit(pfvs, k: k, options: options, progress: progress).components
        case .pca:
            let pca = try PCA.fit(pfvs, k: k)
            concepts = pca.components
            mean = pca.mean
        case .identity:
            guard k == pfvs.cols else {
                throw ConceptError.invalidRequest("identity basis has one concept per channel: K must be \(pfvs.cols), got \(k)")
            }
            concepts = Matrix.identity(k)
        }
        return try bank(concepts: concepts, mean: mean, method: method, options: options, layer: layer, pfvs: pfvs,
                        sample: sample)
    }

    /// A bank of given `concepts` (K×C; rows are normalised here) coding with `options` (λ, sweeps,
    /// Lasso or debiased codes), its quality measured on `pfvs` with those codes (which are also the
    /// recorded sample unless `sample` is given).
    public static func bank(
        concepts given: Matrix, mean: [Float]? = nil, method: ConceptMethod, options: ConceptOptions = ConceptOptions(),
        layer: String = "", pfvs: Matrix, sample: ConceptSample? = nil
    ) throws -> ConceptBank {
        guard given.rows >= 1, given.cols == pfvs.cols, pfvs.rows >= 1 else {
            throw ConceptError.shapeMismatch(
                "\(given.rows) concepts of \(given.cols) channels cannot code \(pfvs.rows) PFVs of \(pfvs.cols) channels")
        }
        try checkFinite(given)
        var concepts = given
        if method != .pca { normalizeRows(&concepts) }
        let k = concepts.rows
        let placeholder = QualityReport(layer: layer, method: method, k: k, pfvCount: 0, r2: 0, meanNonzeros: 0,
                                        activeShare: [Double](repeating: 0, count: k), deadConcepts: [])
        var bank = ConceptBank(
            layer: layer, method: method, concepts: concepts, mean: mean, lambda: options.lambda,
            codingMaxSweeps: options.codingMaxSweeps, codingTolerance: options.codingTolerance,
            sample: sample ?? ConceptSample(seed: options.seed, count: pfvs.rows), quality: placeholder,
            coding: options.coding)
        if let problem = bank.codingProblem { throw ConceptError.invalidRequest("layer '\(layer)': \(problem)") }
        let codes = try bank.encode(pfvs, threads: options.threads)
        bank.quality = QualityReport.measure(pfvs: pfvs, codes: codes, concepts: concepts, mean: mean, layer: layer, method: method)
        return bank
    }

    /// Scales every non-zero row to unit norm; zero rows stay zero.
    static func normalizeRows(_ m: inout Matrix) {
        for r in 0..<m.rows {
            let range = (r * m.cols)..<((r + 1) * m.cols)
            let norm = m.data[range].reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            guard norm > 0 else { continue }
            for i in range { m.data[i] = Float(Double(m.data[i]) / norm) }
        }
    }

    /// Throws naming the first non-finite PFV value.
    static func checkFinite(_ pfvs: Matrix) throws {
        if let bad = pfvs.data.firstIndex(where: { !$0.isFinite }) {
            throw ConceptError.invalidPFVs("PFV \(bad / pfvs.cols) channel \(bad % pfvs.cols) is \(pfvs.data[bad]) (not finite)")
        }
    }
}
