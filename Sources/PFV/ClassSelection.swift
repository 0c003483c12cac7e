import Core

/// Which class logit each image of a batch is explained against (its prediction or its label,
/// per `ClassSource`), and the one-hot cotangent `[N, classes]` that selects those logits for the
/// contribution's backward pass. Shared by the one-layer extractor and the multi-layer sampler.
struct ClassSelection {
    /// Arg-max of each image's logits.
    let predictions: [Int]
    /// The class explained per image: `predictions` or the batch's labels.
    let classes: [Int]
    /// One at (image, class), zero elsewhere; shape of the logits.
    let cotangent: Tensor

    /// Throws when a label is outside the logits' classes (names the image and the `output` tensor).
    init(logits: Tensor, batch: PFVBatch, source: ClassSource, output: String) throws {
        let n = batch.count
        let k = logits.count / max(1, n)
        var predictions = [Int](repeating: 0, count: n)
        for i in 0..<n {
            var best = 0
            for c in 1..<max(1, k) where logits.data[i * k + c] > logits.data[i * k + best] { best = c }
            predictions[i] = best
        }
        let classes = source == .prediction ? predictions : batch.labels
        var cotangent = Tensor(shape: logits.shape)
        for (i, c) in classes.enumerated() {
            guard (0..<k).contains(c) else {
                throw PFVError.invalidRequest("label \(c) of image \(batch.imageIndices[i]) is outside the \(k) classes of '\(output)'")
            }
            cotangent.data[i * k + c] = 1
        }
        self.predictions = predictions
        self.classes = classes
        self.cotangent = cotangent
    }

    /// Contribution of every PFV: Σ_c x·∂logit/∂x over channels, `[N, H, W]`, from the layer's
    /// activations and the gradient of the selected logits (both `[N, C, H, W]`).
    static func contributions(activations x: Tensor, gradient: Tensor, geometry g: LayerGeometry, count n: Int) -> Tensor {
        let hw = g.positions, ch = g.channels
        var r = [Float](repeating: 0, count: n * hw)
        for i in 0..<n {
            for c in 0..<ch {
                let base = (i * ch + c) * hw
                for p in 0..<hw { r[i * hw + p] += x.data[base + p] * gradient.data[base + p] }
            }
        }
        return Tensor(uncheckedShape: [n, g.height, g.width], data: r)
    }
}
