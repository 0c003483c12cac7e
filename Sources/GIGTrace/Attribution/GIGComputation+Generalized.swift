import CNN
import Concepts
import Core

/// Concept → class edges through a tree-ensemble head (docs/METHOD.md §9): the path α X̃ from zero
/// to the rebuilt layer, as in §4, but the head's jumps are found and credited by Generalized IG.
extension GIGComputation {
    /// One image's concept → class relevance with `gig` (from this subnetwork's source layer to its
    /// output): A(q→c) = ⟨G_c, X̃_q⟩ = Σ_p u_{p,q} ⟨G_{c,p}, v_q⟩, where G_c is GIG's effective
    /// gradient (the smooth integral plus the jumps' chain-rule credits) and X̃_q concept q's share
    /// of X̃ (the PCA mean, when there is one, is one more source). Completeness is checked as for
    /// plain GIG.
    func computeGeneralized(_ gig: GeneralizedIntegratedGradients, sourceCodes: [Float], realTarget: Tensor) throws -> Result {
        let prepared = try prepare(sourceCodes: sourceCodes, realTarget: realTarget, targetCodes: nil)
        guard prepared.t > 0 else { return prepared.result }
        let shapeA = prepared.shapeA
        let (channels, positions) = (shapeA[0], shapeA[1] * shapeA[2])
        let k = source.k, t = prepared.t
        let results = try gig.attribute(Tensor(uncheckedShape: [1] + shapeA, data: prepared.reconstruction),
                                        baseline: Tensor(shape: [1] + shapeA), targets: prepared.targets)
        var relevance = [Float](repeating: 0, count: sourceCount * t)
        for (i, r) in results.enumerated() {
            let g = r.effectiveGradient  // C×P, like the layer
            for q in 0..<k {
                var sum = 0.0
                for p in 0..<positions {
                    let u = sourceCodes[p * k + q]
                    if u == 0 { continue }
                    var dot = 0.0
                    for c in 0..<channels { dot += Double(source.concepts.data[q * channels + c]) * g[c * positions + p] }
                    sum += Double(u) * dot
                }
                relevance[q * t + i] = Float(sum)
            }
            if let mean = source.mean {
                var sum = 0.0
                for c in 0..<channels { for p in 0..<positions { sum += Double(mean[c]) * g[c * positions + p] } }
                relevance[k * t + i] = Float(sum)
            }
        }
        return finish(prepared, relevance: relevance)
    }
}
