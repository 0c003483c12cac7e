/// How an effective receptive field is computed (METHOD §2).
public enum ERFMethod: String, Sendable, CaseIterable {
    /// iERF: SRD sharing ratios, a signed relevance map of mass 1.
    case srd
    /// Gradient ERF: |∂⟨x_p, x_p⟩/∂input| summed over input channels.
    case gradient
}
