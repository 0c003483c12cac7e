import CNN
import Core

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
            throw PFVError.invalidRequest("contributions need a layer that every path to '\(out)' passes through (a block or stage output); '\(layer)' is not: \(error)")
        }
    }

    /// Activations, predictions and contributions of every PFV of `batch`. Throws when a label is
    /// needed (`.label`) but outside the logits' range.
    public func readout(_ batch: PFVBatch) throws -> LayerReadout {
        let values = try model.forward(batch.images, keep: [geometry.name])
        guard let x = values[geometry.name], let logits = values[output] else {
            throw ModelError.unknownTensor(geometry.name, available: model.tensorNames)
        }
        let selection = try ClassSelection(logits: logits, batch: batch, source: classSource, output: output)
        let tape = try toOutput.forward(x)
        let grad = try toOutput.backward(tape, cotangent: selection.cotangent)
        return try LayerReadout(geometry: geometry, activations: x,
                                contributions: ClassSelection.contributions(activations: x, gradient: grad, geometry: geometry,
                                                                             count: batch.count),
                                classes: selection.classes, labels: batch.labels, predictions: selection.predictions,
                                imageIndices: batch.imageIndices)
    }
}
