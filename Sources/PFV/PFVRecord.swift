/// Where a PFV comes from and what it does: dataset image, grid position, the image's label and
/// prediction, and its contribution r_p to the class chosen by `ClassSource` (METHOD §1).
public struct PFVRecord: Sendable, Equatable {
    /// Index of the image in the caller's dataset (`PFVBatch.imageIndices`).
    public var imageIndex: Int
    public var position: PFVPosition
    public var label: Int
    public var prediction: Int
    /// r_p = Σ_ch X[ch,p]·∂y_c/∂X[ch,p] for the class c the readout used.
    public var contribution: Float

    public init(imageIndex: Int, position: PFVPosition, label: Int, prediction: Int, contribution: Float) {
        self.imageIndex = imageIndex
        self.position = position
        self.label = label
        self.prediction = prediction
        self.contribution = contribution
    }
}
