/// Which class a PFV's contribution is measured against (METHOD §1).
public enum ClassSource: String, Sendable, CaseIterable {
    /// The model's prediction (argmax of the logits): the default.
    case prediction
    /// The image's ground-truth label.
    case label
}
