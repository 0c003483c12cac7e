/// Everything `gigtrace erf` asks for: which PFV, how, and where to write its exemplar patch.
public struct ERFRequest: Sendable {
    /// The traced C×H×W layer.
    public var layer: String
    /// Index of the image in the `images` batch given to `ERFReport.run`.
    public var imageIndex: Int
    public var position: PFVPosition
    public var method: ERFMethod = .srd
    /// Share of |ERF| mass the patch box must cover.
    public var mass: Double = 0.9
    /// How the images were normalised, to show the raw image.
    public var normalization: ImageNormalization = .identity
    /// Where to write the patch PNG (nil: no file).
    public var patchPath: String?
    /// Tint the patch with the map.
    public var overlay: Bool = false

    public init(layer: String, imageIndex: Int, position: PFVPosition) {
        self.layer = layer
        self.imageIndex = imageIndex
        self.position = position
    }
}
