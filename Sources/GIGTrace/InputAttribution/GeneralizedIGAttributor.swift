import CNN
import Core

/// `AttributionMethod.generalizedIG`: Generalized IG (docs/METHOD.md §9) of one output element
/// per sample, from the model's input, with the sample's completeness account. Unlike the other
/// attributors it takes any per-sample shape: images `[1, C, H, W]` or feature rows `[1, F]` of a
/// tabular (tree-ensemble) model.
///
///     let gig = try GeneralizedIGAttributor(model: m, settings: .standard())
///     let r = try gig.explain(image: row, target: 1, baseline: Tensor(shape: row.shape))
///     print(r.map, r.generalizedIG?.completenessError ?? 0)
public struct GeneralizedIGAttributor: InputAttributor {
    public let gig: GeneralizedIntegratedGradients

    /// Generalized IG from the model's input to `settings.output` (default: the first output that
    /// is not a tree classifier's label), with `settings.quadrature`, `internalBatchSize` and
    /// `maxCrossings`. Throws when the way there cannot be attributed (see
    /// `GeneralizedIntegratedGradients.init`).
    public init(model: Model, settings: AttributionSettings) throws {
        guard settings.maxCrossings >= 1 else {
            throw InputError.invalidParameter(.maxCrossings, "the crossing limit must be at least 1, got \(settings.maxCrossings)")
        }
        var gig = try GeneralizedIntegratedGradients(model: model, output: settings.output)
        gig.quadrature = settings.quadrature
        gig.maxCrossings = settings.maxCrossings
        if let batch = settings.internalBatchSize { gig.internalBatchSize = batch }
        self.gig = gig
    }

    public func attribute(image: Tensor, target: Int, baseline: Tensor) throws -> Tensor {
        try explain(image: image, target: target, baseline: baseline).map
    }

    public func explain(image: Tensor, target: Int, baseline: Tensor) throws -> InputAttribution {
        guard image.shape.first == 1, baseline.shape == image.shape else {
            throw InputError.shapeMismatch("Generalized IG takes one sample [1, ...] and a baseline of its shape, got \(image.shape) and \(baseline.shape)")
        }
        let result = try gig.attribute(image, baseline: baseline, target: target)
        return InputAttribution(map: Tensor(uncheckedShape: image.shape, data: result.attributions.map { Float($0) }),
                                generalizedIG: result)
    }
}
