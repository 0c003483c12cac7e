import Core

/// One batch of preprocessed images as the model sees them.
public struct DataBatch: Sendable {
    /// N×C×H×W float32, preprocessed.
    public var images: Tensor
    /// Class label of each image (-1 when the dataset has no labels).
    public var labels: [Int]
    /// Dataset index of each image.
    public var indices: [Int]
    /// File path (folders) or `file#index` (array formats) of each image.
    public var identifiers: [String]
    /// Identifiers of unreadable images left out of this batch (only with `skipBad`), with reasons.
    public var skipped: [String]
}
