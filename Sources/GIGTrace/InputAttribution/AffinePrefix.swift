import CNN
import Core

/// The network up to its first non-linearity, when that part is affine (a first Conv, with
/// BatchNormalization folded or not, before the first Relu or MaxPool): A(x) = J x + b. On the
/// scaled inputs of a path method its output is exact from two evaluations,
/// A(x' + α(x − x')) = A(x') + α (A(x) − A(x')), and a weighted sum of input gradients needs one
/// transposed product, Σ_k w_k ∇_x F(z_k) = Jᵀ Σ_k w_k g_k, g_k the gradient at A's output —
/// instead of n_steps of each (METHOD §7, Integrated Gradients).
///
///     if let split = AffinePrefix(model: m, output: m.outputNames[0]) {
///         let (start, end) = try split.ends(image: x, baseline: xb)      // A(x'), A(x) with the tape of A(x)
///         let map = try split.prefix.backwardSum(end.tape, block: gradientAtA, weights: [1])
///     }
struct AffinePrefix {
    /// The input → A(input) part: affine nodes only.
    let prefix: Subnetwork
    /// A(input) → the output: everything else.
    let rest: Subnetwork

    /// Nil when the output is not reached through one affine tensor that every path crosses (the
    /// first node is not affine, the affine part branches into several tensors read further on,
    /// or the whole network is affine): the caller then runs the whole network.
    init?(model: Model, output: String) {
        guard let whole = try? model.subnetwork(from: model.inputName, to: output) else { return nil }
        let frontier = whole.affineFrontier()
        guard frontier.count == 1, let cut = frontier.first, cut != model.inputName, cut != output,
              let prefix = try? model.subnetwork(from: model.inputName, to: cut),
              let rest = try? model.subnetwork(from: cut, to: output) else { return nil }
        self.prefix = prefix
        self.rest = rest
    }

    /// A at the baseline and at the image (one `[1, ...]` evaluation each); the image's tape
    /// serves `backwardSum` (the prefix is affine, so its VJP does not depend on the sample).
    func ends(image: Tensor, baseline: Tensor) throws -> (atBaseline: Tensor, atImage: Subnetwork.Tape) {
        let atImage = try prefix.forward(image)
        return (try prefix.forward(baseline).output, atImage)
    }

    /// The cotangent selecting logit `target` of each of `rows` samples of `output` (`[rows, K]`,
    /// or `[1, K]` as `backwardSum`'s block). Throws when `target` is not a class of the output.
    func seed(target: Int, rows: Int, output: Tensor) throws -> Tensor {
        let classCount = output.count / max(1, output.shape.first ?? 1)
        guard target >= 0 && target < classCount else {
            throw ModelError.invalidArgument("target class \(target) out of range 0..<\(classCount) for output '\(rest.to)'")
        }
        var seed = Tensor(shape: [rows] + Array(output.shape.dropFirst()))
        for i in 0..<rows { seed.data[i * classCount + target] = 1 }
        return seed
    }
}
