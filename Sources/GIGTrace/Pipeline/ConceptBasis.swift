import Concepts
import Core

/// The concept vectors of one traced layer as GIG sees them: V ∈ R^{K×C} (row-major, one concept
/// per row) and, for PCA, the mean PFV that reconstructions add back (METHOD §3–4).
///
/// Codes are P×K row-major matrices (one row per position p = h·W + w). A reconstruction is
/// x̃_p = mean + Vᵀu_p. The mean, when present, is one more GIG source node with code 1.
public struct ConceptBasis: Sendable, Equatable {
    /// Number of concepts K.
    public let count: Int
    /// PFV length C (channels of the layer).
    public let channels: Int
    /// K×C, row-major.
    public let vectors: [Float]
    /// Length C, or nil when the method has no mean (k-means, NMF, identity).
    public let mean: [Float]?
    /// Whether codes are signed (PCA): then a target is active where its code is ≠ 0, else > 0.
    public let signedCodes: Bool

    public init(count: Int, channels: Int, vectors: [Float], mean: [Float]? = nil, signedCodes: Bool = false) throws {
        guard count > 0, channels > 0, vectors.count == count * channels else {
            throw CNNError.shapeMismatch("concept basis of \(count)×\(channels) needs \(count * channels) values, got \(vectors.count)")
        }
        if let mean, mean.count != channels {
            throw CNNError.shapeMismatch("concept mean has \(mean.count) values for \(channels) channels")
        }
        self.count = count
        self.channels = channels
        self.vectors = vectors
        self.mean = mean
        self.signedCodes = signedCodes
    }

    /// The identity basis: every channel its own concept, codes = the activations (a channel-level
    /// graph; GIG then reduces to Integrated Gradients summed over positions).
    public static func identity(channels: Int) -> ConceptBasis {
        var v = [Float](repeating: 0, count: channels * channels)
        for c in 0..<channels { v[c * channels + c] = 1 }
        // Force-unwrap-free: the sizes match by construction.
        return ConceptBasis(uncheckedCount: channels, channels: channels, vectors: v, mean: nil, signedCodes: true)
    }

    init(uncheckedCount count: Int, channels: Int, vectors: [Float], mean: [Float]?, signedCodes: Bool) {
        self.count = count
        self.channels = channels
        self.vectors = vectors
        self.mean = mean
        self.signedCodes = signedCodes
    }

    /// Source nodes of GIG: the K concepts, plus the mean when there is one.
    public var sourceCount: Int { count + (mean == nil ? 0 : 1) }

    /// Whether code value `u` counts as active.
    @inline(__always) public func isActive(_ u: Float) -> Bool { signedCodes ? u != 0 : u > 0 }
}
