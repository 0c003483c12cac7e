import CNN
import Core

/// Samples contribution-weighted PFVs (METHOD §1) at several layers at once while a dataset
/// streams through the model: per batch one forward pass from the image input to the logits
/// (recording every layer) and one backward pass that yields ∂y_c/∂X at all layers together.
///
/// Each layer has its own `ContributionSampler` with a seed derived from `seed` and the layer's
/// position, so the sample is reproducible and a layer's draws do not depend on which other layers
/// are sampled alongside it. Memory grows with the sample, not with the images' activations (plus
/// one batch's recorded forward pass).
public struct MultiLayerSampler: Sendable {
    public let model: Model
    public let layers: [LayerGeometry]
    public let classSource: ClassSource
    /// Graph output holding the logits.
    public let output: String
    public private(set) var samplers: [ContributionSampler]
    let network: Subnetwork

    /// Throws for an unknown layer (listing the model's tensors), a layer that is not C×H×W
    /// (listing the PFV layers), an empty or repeated layer list, or a bad per-image count.
    public init(model: Model, layers: [String], perImage: SamplesPerImage = .count(4), seed: UInt64,
                classSource: ClassSource = .prediction, output: String? = nil) throws {
        guard !layers.isEmpty else { throw PFVError.invalidRequest("no layer to sample PFVs from") }
        if let repeated = layers.first(where: { name in layers.filter { $0 == name }.count > 1 }) {
            throw PFVError.invalidRequest("layer '\(repeated)' is listed twice")
        }
        self.model = model
        self.layers = try layers.map { try LayerGeometry(model: model, layer: $0) }
        self.classSource = classSource
        let out = output ?? model.outputNames.first ?? ""
        try model.checkTensor(out)
        self.output = out
        network = try model.subnetwork(from: model.inputName, to: out)
        samplers = try self.layers.enumerated().map { i, g in
            try ContributionSampler(layer: g, perImage: perImage, seed: MultiLayerSampler.layerSeed(seed, i))
        }
    }

    /// The seed of the sampler of layer number `i`: `seed` itself for the first layer.
    public static func layerSeed(_ seed: UInt64, _ i: Int) -> UInt64 {
        seed &+ UInt64(i) &* 0x9E37_79B9_7F4A_7C15
    }

    /// The PFVs drawn so far, one set per layer in the order given.
    public var samples: [PFVSet] { samplers.map(\.samples) }

    /// Images seen so far.
    public var imagesSeen: Int { samplers.first?.imagesSeen ?? 0 }

    /// Draws from every image of `batch` at every layer.
    public mutating func add(_ batch: PFVBatch) throws {
        guard batch.count > 0 else { return }
        let names = Set(layers.map(\.name))
        let tape = try network.forward(batch.images, keep: names)
        let logits = tape.output
        let selection = try ClassSelection(logits: logits, batch: batch, source: classSource, output: output)
        let grads = try network.backward(tape, cotangent: selection.cotangent, collecting: names)
        for (l, g) in layers.enumerated() {
            guard let x = tape.kept[g.name], let grad = grads[g.name] else {
                throw ModelError.unknownTensor(g.name, available: model.tensorNames)
            }
            let readout = try LayerReadout(
                geometry: g, activations: x,
                contributions: ClassSelection.contributions(activations: x, gradient: grad, geometry: g, count: batch.count),
                classes: selection.classes, labels: batch.labels, predictions: selection.predictions,
                imageIndices: batch.imageIndices)
            try samplers[l].add(readout)
        }
    }
}
