import Core

/// Which images of a dataset to visit and in what order: keep only `classes` (names or label
/// numbers), then shuffle with `shuffleSeed` (deterministic: SplitMix64 + Fisher–Yates, not torch's
/// generator), then keep the first `limit`. Without a seed the dataset's own order is kept.
public struct DatasetSelection: Sendable, Equatable {
    public var classes: [String]
    public var shuffleSeed: UInt64?
    public var limit: Int?

    public init(classes: [String] = [], shuffleSeed: UInt64? = nil, limit: Int? = nil) {
        self.classes = classes
        self.shuffleSeed = shuffleSeed
        self.limit = limit
    }

    /// The selected dataset indices, in visiting order. Throws for an unknown class or a bad limit.
    public func indices(in dataset: any ImageDataset) throws -> [Int] {
        if let limit, limit < 0 { throw InputError.invalidParameter(.limit, "limit must be ≥ 0, got \(limit)") }
        var indices = Array(0..<dataset.count)
        if !classes.isEmpty {
            let names = dataset.classNames
            var keep = Set<Int>()
            for name in classes {
                if let i = names.firstIndex(of: name) {
                    keep.insert(i)
                } else if let i = Int(name), i >= 0, names.isEmpty || i < names.count {
                    keep.insert(i)
                } else {
                    let shown = names.prefix(40).joined(separator: ", ") + (names.count > 40 ? ", …" : "")
                    throw InputError.invalidParameter(.classes, "no class named '\(name)'; available: \(shown)")
                }
            }
            let labels = dataset.labels
            indices = indices.filter { keep.contains(labels[$0]) }
        }
        if let seed = shuffleSeed {
            var rng = SplitMix64(seed: seed)
            if indices.count > 1 {
                for i in stride(from: indices.count - 1, to: 0, by: -1) {
                    let j = Int(rng.next() % UInt64(i + 1))
                    indices.swapAt(i, j)
                }
            }
        }
        if let limit { indices = Array(indices.prefix(limit)) }
        return indices
    }
}
