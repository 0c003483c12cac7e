import Core

/// A batch of images handed to PFV extraction by the caller (typically a dataset reader).
///
/// `images` is `[N, C, H, W]`, normalised the way the model expects; `labels[n]` is image n's
/// ground-truth class (any negative value when unknown) and `imageIndices[n]` its index in the
/// caller's dataset, carried into every PFV record.
public struct PFVBatch: Sendable {
    public var images: Tensor
    public var labels: [Int]
    public var imageIndices: [Int]

    /// Throws `PFVError.shapeMismatch` unless `images` is rank 4 with one label and one index per image.
    public init(images: Tensor, labels: [Int], imageIndices: [Int]) throws {
        guard images.rank == 4 else {
            throw PFVError.shapeMismatch("PFV batch needs images [N, C, H, W], got \(images.shape)")
        }
        let n = images.shape[0]
        guard labels.count == n, imageIndices.count == n else {
            throw PFVError.shapeMismatch("PFV batch of \(n) images has \(labels.count) labels and \(imageIndices.count) image indices")
        }
        self.images = images
        self.labels = labels
        self.imageIndices = imageIndices
    }

    /// Number of images.
    public var count: Int { images.shape[0] }
}
