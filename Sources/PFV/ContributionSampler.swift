import Core

/// How many PFVs the sampler keeps per image.
public enum SamplesPerImage: Sendable, Equatable {
    /// `n` independent draws per image with probability ∝ max(r_p, 0).
    case count(Int)
    /// Every position of every image, whatever its contribution (for small data sets).
    case all
}

/// Samples PFVs over a data set, batch by batch, with probability proportional to their positive
/// contribution max(r_p, 0) (METHOD §1), so that background positions do not dominate.
///
/// Streaming: only the drawn PFVs are kept, so memory grows with the sample (`perImage` × images),
/// never with the images' activations. Seeded and reproducible: the same seed and the same batches
/// in the same order give the same sample.
///
/// - Draws within an image are independent (with replacement): a position with a large share can
///   be drawn more than once and is then kept once per draw, so sample frequencies follow
///   p_i = max(r_i, 0) / Σ_j max(r_j, 0) exactly.
/// - An image with no positive contribution anywhere (Σ max(r, 0) = 0, e.g. every PFV opposes the
///   class) is **skipped**: none of its PFVs is kept and `skippedImages` counts it. Uniform fallback
///   would add PFVs the method says carry no evidence for the class.
public struct ContributionSampler: Sendable {
    public let perImage: SamplesPerImage
    public private(set) var samples: PFVSet
    /// Images that had no positive contribution (nothing drawn from them).
    public private(set) var skippedImages = 0
    /// Images seen so far.
    public private(set) var imagesSeen = 0
    private var rng: SamplingRNG

    /// Throws on a non-positive per-image count.
    public init(layer: LayerGeometry, perImage: SamplesPerImage = .count(4), seed: UInt64) throws {
        if case .count(let n) = perImage, n < 1 {
            throw PFVError.invalidRequest("samples per image must be at least 1, got \(n)")
        }
        self.perImage = perImage
        samples = PFVSet(layer: layer.name, channels: layer.channels)
        rng = SamplingRNG(seed: seed)
    }

    /// Draws from every image of `readout` (which must be of this sampler's layer).
    public mutating func add(_ readout: LayerReadout) throws {
        guard readout.geometry.name == samples.layer, readout.geometry.channels == samples.channels else {
            throw PFVError.invalidRequest("sampler of layer '\(samples.layer)' given a readout of '\(readout.geometry.name)'")
        }
        let g = readout.geometry, hw = g.positions
        for n in 0..<readout.count {
            imagesSeen += 1
            let picks: [Int]
            switch perImage {
            case .all:
                picks = Array(0..<hw)
            case .count(let k):
                let r = readout.contributions.data[(n * hw)..<((n + 1) * hw)]
                picks = ContributionSampler.draw(weights: r, count: k, using: &rng)
                if picks.isEmpty { skippedImages += 1 }
            }
            for p in picks {
                let pos = PFVPosition(h: p / g.width, w: p % g.width)
                try samples.append(readout.vector(image: n, at: pos), record: readout.record(image: n, at: pos))
            }
        }
    }

    /// `count` independent indices into `weights`, index i with probability
    /// max(w_i, 0) / Σ_j max(w_j, 0); empty when no weight is positive (or a weight is not finite).
    public static func draw<W: Collection>(weights: W, count: Int, using rng: inout SamplingRNG) -> [Int]
    where W.Element == Float {
        var cumulative = [Double]()
        cumulative.reserveCapacity(weights.count)
        var total = 0.0
        for w in weights {
            guard w.isFinite else { return [] }
            total += Double(max(w, 0))
            cumulative.append(total)
        }
        guard total > 0 else { return [] }
        return (0..<count).map { _ in
            let u = rng.unit() * total
            // First index whose cumulative weight exceeds u: never a zero-weight index.
            var lo = 0, hi = cumulative.count - 1
            while lo < hi {
                let mid = (lo + hi) / 2
                if cumulative[mid] > u { hi = mid } else { lo = mid + 1 }
            }
            return lo
        }
    }
}
