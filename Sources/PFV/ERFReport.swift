import CNN
import Core

/// The receptive field of one PFV with its exemplar patch: the one library call behind
/// `gigtrace erf` (model + images + request → map, patch box, optional PNG).
public struct ERFReport: Sendable {
    /// `[H_in, W_in]` map: signed iERF (SRD) or gradient ERF.
    public let map: Tensor
    /// The method actually used (SRD falls back to the gradient ERF on uncovered ops).
    public let method: ERFMethod
    public let warnings: [String]
    public let patch: ExemplarPatch
    /// The PNG written, if any.
    public let patchPath: String?

    /// Computes the map of `request.position` of image `request.imageIndex` of `images`
    /// (`[N, C, H, W]`), its patch box, and writes the patch PNG when `request.patchPath` is set.
    /// Throws a `PFVError` naming the valid range for a bad layer, image index or position.
    public static func run(model: Model, images: Tensor, request: ERFRequest) throws -> ERFReport {
        let tracer = try ReceptiveFieldTracer(model: model, layer: request.layer)
        let result = try tracer.maps(images: images, index: request.imageIndex, positions: [request.position], method: request.method)
        let h = result.maps.shape[1], w = result.maps.shape[2]
        let map = result.map(0)
        let image = try tracer.image(images, index: request.imageIndex)
        let patch = try ExemplarPatch(image: image, map: map, mass: request.mass,
                                      normalization: request.normalization, overlay: request.overlay)
        if let path = request.patchPath { try patch.writePNG(to: path) }
        return ERFReport(map: Tensor(uncheckedShape: [h, w], data: map), method: result.method,
                         warnings: result.warnings, patch: patch, patchPath: request.patchPath)
    }
}
