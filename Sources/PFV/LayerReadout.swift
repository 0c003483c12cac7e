import Core

/// One batch read at a traced layer: the activations, each PFV's contribution to a class logit,
/// and the classes involved. Produced by `PFVExtractor.readout(_:)`.
public struct LayerReadout: Sendable {
    public let geometry: LayerGeometry
    /// `[N, C, H, W]` activations X of the layer.
    public let activations: Tensor
    /// `[N, H, W]` contributions r_p = Σ_ch X[ch,p]·∂y_c/∂X[ch,p].
    public let contributions: Tensor
    /// Class c each image's contributions refer to (label or prediction, per `ClassSource`).
    public let classes: [Int]
    public let labels: [Int]
    public let predictions: [Int]
    public let imageIndices: [Int]

    /// Builds a readout from precomputed arrays; throws when the shapes disagree. (The extractor
    /// uses it; tests and other producers of contributions may too.)
    public init(geometry: LayerGeometry, activations: Tensor, contributions: Tensor, classes: [Int],
                labels: [Int], predictions: [Int], imageIndices: [Int]) throws {
        let g = geometry
        let n = activations.shape.first ?? 0
        guard activations.shape == [n, g.channels, g.height, g.width],
              contributions.shape == [n, g.height, g.width],
              classes.count == n, labels.count == n, predictions.count == n, imageIndices.count == n else {
            throw PFVError.shapeMismatch("readout of '\(g.name)': activations \(activations.shape), contributions \(contributions.shape), \(classes.count)/\(labels.count)/\(predictions.count)/\(imageIndices.count) classes/labels/predictions/indices")
        }
        self.geometry = geometry
        self.activations = activations
        self.contributions = contributions
        self.classes = classes
        self.labels = labels
        self.predictions = predictions
        self.imageIndices = imageIndices
    }

    /// Number of images.
    public var count: Int { classes.count }

    /// The C values of the PFV of batch image `n` at `p` (unchecked: n and p must be valid).
    public func vector(image n: Int, at p: PFVPosition) -> [Float] {
        let g = geometry, hw = g.positions, base = n * g.channels * hw + p.h * g.width + p.w
        return (0..<g.channels).map { activations.data[base + $0 * hw] }
    }

    /// The record of the PFV of batch image `n` at `p`.
    public func record(image n: Int, at p: PFVPosition) -> PFVRecord {
        let g = geometry
        return PFVRecord(imageIndex: imageIndices[n], position: p, label: labels[n], prediction: predictions[n],
                         contribution: contributions.data[(n * g.height + p.h) * g.width + p.w])
    }

    /// Every PFV of the batch, image-major then row-major positions.
    public func allPFVs() throws -> PFVSet {
        var set = PFVSet(layer: geometry.name, channels: geometry.channels)
        for n in 0..<count {
            for h in 0..<geometry.height {
                for w in 0..<geometry.width {
                    let p = PFVPosition(h: h, w: w)
                    try set.append(vector(image: n, at: p), record: record(image: n, at: p))
                }
            }
        }
        return set
    }
}
