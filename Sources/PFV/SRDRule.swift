import CNN

/// How one graph node (or a Conv with the BatchNormalization after it) shares the relevance of
/// its output PFVs among its input PFVs under SRD (METHOD §2). Built by `SRDPlan`.
enum SRDRule: Sendable {
    /// Conv with BN folded in (at load time or by the plan): contributors are the input PFVs under
    /// the kernel taps, c_{k→j} = W_tap · x_k, plus the split bias.
    case conv(Conv2D)
    /// A standalone BatchNormalization y = scale·x + shift: one contributor per output PFV.
    case affine
    /// Pointwise activations and Identity: the PFV's relevance passes through unchanged (ratios
    /// are defined on the pre-activation that produced the activation's input).
    case passThrough
    /// Elementwise sum of two same-shape tensors (residual add: the shortcut is one more contributor).
    case add
    /// Max pooling: each channel is routed through its argmax tap.
    case maxPool(Window2D)
    /// Average pooling: every in-window PFV contributes its value / window count.
    case averagePool(Window2D)
    /// GlobalAveragePool (or ReduceMean over H, W keeping dims): every PFV contributes.
    case globalAverage
    /// Concatenation along channels: each operand's part of the output PFV is a contributor.
    case concat

    /// Rules whose output belongs to a linear group sharing the pre-activation reference z_j.
    var isLinear: Bool {
        switch self {
        case .conv, .affine, .add: return true
        default: return false
        }
    }
}

/// One step of an SRD plan: a rule, the tensors it reads (constants already left out) and the
/// tensor it writes.
struct SRDStep: Sendable {
    var rule: SRDRule
    /// Name of the graph node (for messages).
    var node: String
    var inputs: [String]
    var output: String
}
