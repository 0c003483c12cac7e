import Core

/// The per-channel normalisation a model's inputs went through, x = (raw − mean) / std, so that
/// patches can be shown as the raw image (raw in [0, 1]).
public struct ImageNormalization: Sendable, Equatable {
    public var mean: [Float]
    public var std: [Float]

    /// Throws unless `mean` and `std` have equal length and every std is positive.
    public init(mean: [Float], std: [Float]) throws {
        guard mean.count == std.count, !mean.isEmpty, std.allSatisfy({ $0 > 0 }) else {
            throw PFVError.invalidRequest("normalisation needs one mean and one positive std per channel, got \(mean.count) means and std \(std)")
        }
        self.mean = mean
        self.std = std
    }

    /// No normalisation: the tensor already holds raw values in [0, 1].
    public static let identity = ImageNormalization(uncheckedMean: [0], std: [1])

    private init(uncheckedMean mean: [Float], std: [Float]) {
        self.mean = mean
        self.std = std
    }

    /// Raw value of channel `c` (a single mean/std applies to every channel).
    func raw(_ x: Float, channel c: Int) -> Float {
        let i = mean.count == 1 ? 0 : c
        return x * std[i] + mean[i]
    }
}
