/// Reads PFVs and their contributions at one C×H×W layer, batch by batch (METHOD §1).
///
/// For each batch: one forward pass keeping the layer, then one batched backward from the class
/// logit to the layer through `Model.subnetwork(from: layer, to: output)`. The layer must be a
/// cut of the graph (every path to the output passes through it), as block/stage outputs are.
public struct PFVExtractor: Sendable {
    public let model: Model
    public let geometry: LayerGeometry
    public let classSource: ClassSource
    /// Graph output holding the logits (default: the first output).
    public let output: String
    let toOutput: Subnetwork

    /// Throws when `layer` is not a C×H×W tensor of `model` or the output does not depend on it alone.
    public init(model: Model, layer: String, classSource: ClassSource = .prediction, output: String? = nil) throws {
        self.model = model
        geometry = try LayerGeometry(model: model, layer: layer)
        self.classSource = classSource
        let out = output ?? model.outputNames.first ?? ""
        try model.checkTensor(out)
        self.output = out
        do {
            toOutput = try model.subnetwork(from: layer, to: out)
        } catch {
            throw CNNError.invalidInput("contributions need a layer that every path to '\(out)' passes through (a block or stage output); '\(layer)' is not: \(error)")
        }
    }

    /// Activations, predictions and contributions of every PFV of `batch`. Throws when a label is
    /// needed (`.label`) but outside the logits' range.
    public func readout(_ batch: PFVBatch) throws -> LayerReadout {
        let values = try model.forward(batch.images, keep: [geometry.name])
        guard let x = values[geometry.name], let logits = values[output] else {
            throw CNNError.unknownTensor(geometry.name, available: model.tensorNames)
        }
        let n = batch.count
        let k = logits.count / max(1, n)
        var predictions = [Int](repeating: 0, count: n)
        for i in 0..<n {
            var best = 0
            for c in 1..<max(1, k) where logits.data[i * k + c] > logits.data[i * k + best] { best = c }
            predictions[i] = best
        }
        let classes = classSource == .prediction ? predictions : batch.labels
        var seed = Tensor(shape: logits.shape)
        for (i, c) in classes.enumerated() {
            guard (0..<k).contains(c) else {
                throw CNNError.invalidInput("label \(c) of image \(batch.imageIndices[i]) is outside the \(k) classes of '\(output)'")
            }
            seed.data[i * k + c] = 1
        }
        let tape = try toOutput.forward(x)
        let grad = try toOutput.backward(tape, cotangent: seed)
        let hw = geometry.positions, ch = geometry.channels
        var r = [Float](repeating: 0, count: n * hw)
        for i in 0..<n {
            for c in 0..<ch {
                let base = (i * ch + c) * hw
                for p in 0..<hw { r[i * hw + p] += x.data[base + p] * grad.data[base + p] }
            }
        }
        return try LayerReadout(geometry: geometry, activations: x,
                                contributions: Tensor(uncheckedShape: [n, geometry.height, geometry.width], data: r),
                                classes: classes, labels: batch.labels, predictions: predictions,
                                imageIndices: batch.imageIndices)
    }
}
