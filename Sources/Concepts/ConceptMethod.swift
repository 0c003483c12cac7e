/// How a layer's concept vectors are learned from its PFVs (METHOD §3).
public enum ConceptMethod: String, Sendable, Codable, CaseIterable {
    /// Bisecting k-means (the paper's); concepts are unit-norm centroids, codes non-negative.
    case kmeans
    /// Non-negative matrix factorisation P ≈ U V (NNDSVD init, HALS); codes non-negative.
    case nmf
    /// Top-K principal directions of the centred PFVs; codes u = V(x − mean), signed.
    case pca
    /// V = I: every channel is a concept and the code is the PFV itself (channel-level graphs).
    case identity

    /// Whether codes are constrained to u ≥ 0.
    public var nonNegativeCodes: Bool { self == .kmeans || self == .nmf }
}
