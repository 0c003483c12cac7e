import Core

/// iERF maps of a batch of PFVs of one image, by SRD relevance propagation.
public struct SRDResult: Sendable {
    /// `[P, H_in, W_in]` signed relevance at the input for each requested PFV (one-hot of mass 1
    /// at the PFV, shared down by the sharing ratios).
    public let maps: Tensor
    /// For every tensor that received relevance as a whole (a root: block outputs, ReLU outputs,
    /// pool outputs, the input): the total relevance per PFV. In a chain of Conv/ReLU layers each
    /// equals 1 minus what was dropped above it.
    public let mass: [String: [Float]]
    /// Per PFV, the |relevance| that reached a PFV whose reference vector is zero (‖z_j‖ = 0: no
    /// signal to share by) and was therefore dropped. 0 in the usual case.
    public let droppedRelevance: [Float]
}
