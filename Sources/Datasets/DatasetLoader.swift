import Core
import Foundation
import ImageIO

/// Streams a dataset as preprocessed batches, like a torch `DataLoader` with `shuffle` replaced by a
/// seeded `DatasetSelection`. Memory is bounded by the batch size: only the index list is held,
/// images are decoded batch by batch.
///
/// All images of a run must preprocess to one shape (use resize/crop for folders of mixed sizes);
/// a differing image is an error naming it. Without `preprocessing.channels` the dataset's channel
/// count is used (RGBA → 3), and 3 for image folders (torchvision's loader converts to RGB). With `skipBad`, images that cannot be read or decoded
/// are left out (the batch gets shorter) and reported in `DataBatch.skipped`.
public struct DatasetLoader: Sendable {
    public let dataset: any ImageDataset
    public let preprocessing: Preprocessing
    /// Dataset indices in visiting order.
    public let indices: [Int]
    public let batchSize: Int
    public let skipBad: Bool

    public init(dataset: any ImageDataset, preprocessing: Preprocessing, selection: DatasetSelection = DatasetSelection(),
                batchSize: Int, skipBad: Bool = false) throws {
        guard batchSize > 0 else { throw InputError.invalidParameter(.batchSize, "batch size must be positive, got \(batchSize)") }
        try preprocessing.validate()
        self.dataset = dataset
        var p = preprocessing
        if p.channels == nil {
            // The dataset's channels (RGBA → RGB); folders get RGB like torchvision's default loader.
            let c = dataset.imageShape?.first ?? 3
            p.channels = c == 4 ? 3 : c
        }
        self.preprocessing = p
        self.indices = try selection.indices(in: dataset)
        self.batchSize = batchSize
        self.skipBad = skipBad
    }

    /// The same dataset and preprocessing visiting only `indices` (dataset indices, in that order):
    /// one shard of a run, the images a resumed run still needs, or a fixed sample.
    public func restricted(to indices: [Int]) -> DatasetLoader {
        DatasetLoader(copying: self, indices: indices)
    }

    private init(copying other: DatasetLoader, indices: [Int]) {
        dataset = other.dataset
        preprocessing = other.preprocessing
        self.indices = indices
        batchSize = other.batchSize
        skipBad = other.skipBad
    }

    /// Number of batches (the last may be short).
    public var batchCount: Int { (indices.count + batchSize - 1) / batchSize }

    /// Builds batch `number` (0 ..< batchCount) on the calling thread.
    public func batch(_ number: Int) throws -> DataBatch {
        guard number >= 0, number < batchCount else {
            throw DatasetError.invalidRequest("batch \(number) does not exist (\(batchCount) batches of \(batchSize))")
        }
        let slice = indices[(number * batchSize)..<min(indices.count, (number + 1) * batchSize)]
        var shape: [Int]? = nil
        var data = [Float]()
        var labels = [Int](), kept = [Int](), ids = [String](), skipped = [String]()
        let allLabels = dataset.labels
        for index in slice {
            let id = dataset.identifier(at: index)
            do {
                let image = try dataset.image(at: index)
                let s = preprocessing.outputShape(channels: image.channels, height: image.height, width: image.width)
                if let shape, shape != s {
                    throw InputError.invalidParameter(.imageSize, "\(id) preprocesses to \(s.map(String.init).joined(separator: "x")) but earlier images to \(shape.map(String.init).joined(separator: "x")); resize and/or crop them to one size")
                }
                let per = try SizeLimits.current.checkedElementCount(s, what: "\(id) preprocessed")
                if shape == nil {
                    shape = s
                    data.reserveCapacity(slice.count * per)
                }
                let start = data.count
                data.append(contentsOf: repeatElement(0, count: per))
                do {
                    try data.withUnsafeMutableBufferPointer { all in
                        let slot = UnsafeMutableBufferPointer(rebasing: all[start..<(start + per)])
                        try preprocessing.apply(image, into: slot, path: id)
                        // NaN/Inf pixels (float arrays) would flow silently through GIG: name the image.
                        if let bad = slot.first(where: { !$0.isFinite }) {
                            throw InputError.corruptFile(path: id, reason: "image \(index) contains a non-finite value (\(bad)) after preprocessing")
                        }
                    }
                } catch {
                    data.removeSubrange(start...)
                    throw error
                }
            } catch let error as any UserError where skipBad {
                if case DatasetError.shapeMismatch = error { throw error }
                if case InputError.shapeMismatch = error { throw error }
                if case InputError.invalidParameter(.imageSize, _) = error { throw error }
                skipped.append(error.description)
                continue
            }
            labels.append(allLabels[index])
            kept.append(index)
            ids.append(id)
        }
        let s = shape ?? [preprocessing.channels ?? 0, preprocessing.crop?.height ?? 0, preprocessing.crop?.width ?? 0]
        return DataBatch(images: Tensor(uncheckedShape: [kept.count] + s, data: data),
                         labels: labels, indices: kept, identifiers: ids, skipped: skipped)
    }

    /// A stream over all batches in order. `prefetchThreads` background threads build batches ahead
    /// of the consumer (at most `prefetchThreads + 1` batches in memory); 0 builds each batch on the
    /// thread calling `next()`. Keep OpenBLAS threads + prefetch threads ≤ the core count.
    public func stream(prefetchThreads: Int = 0) -> BatchStream {
        BatchStream(loader: self, threads: max(0, prefetchThreads))
    }
}

/// Iterates a `DatasetLoader`'s batches in order: `while let batch = try stream.next() { … }`.
/// Also checks that every batch has the first batch's image shape.
public final class BatchStream {
    let loader: DatasetLoader
    let state: PrefetchState?
    var nextBatch = 0
    var imageShape: [Int]?

    init(loader: DatasetLoader, threads: Int) {
        self.loader = loader
        if threads > 0, loader.batchCount > 0 {
            let state = PrefetchState(capacity: threads + 1, total: loader.batchCount)
            self.state = state
            for _ in 0..<threads {
                let thread = Thread { state.work(loader) }
                thread.name = "gigtrace-data-prefetch"
                thread.start()
            }
        } else {
            state = nil
        }
    }

    deinit { state?.cancel() }

    /// The next batch, or nil at the end. Throws the first error met (naming the image).
    public func next() throws -> DataBatch? {
        guard nextBatch < loader.batchCount else { return nil }
        let number = nextBatch
        nextBatch += 1
        let batch = try state?.take(number) ?? loader.batch(number)
        let shape = Array(batch.images.shape.dropFirst())
        if !batch.indices.isEmpty {
            if let imageShape, imageShape != shape, let first = batch.identifiers.first {
                throw InputError.invalidParameter(.imageSize, "\(first) preprocesses to \(shape.map(String.init).joined(separator: "x")) but earlier images to \(imageShape.map(String.init).joined(separator: "x")); resize and/or crop them to one size")
            }
            imageShape = imageShape ?? shape
        }
        return batch
    }
}

/// Shared state of the prefetch threads: which batch to build next and the finished ones waiting
/// for the consumer, guarded by one condition variable.
final class PrefetchState: @unchecked Sendable {
    private let condition = NSCondition()
    private let capacity: Int
    private let total: Int
    private var produced = 0
    private var consumed = 0
    private var cancelled = false
    private var ready: [Int: Result<DataBatch, Error>] = [:]

    init(capacity: Int, total: Int) {
        self.capacity = capacity
        self.total = total
    }

    func work(_ loader: DatasetLoader) {
        condition.lock()
        while true {
            if cancelled || produced >= total { break }
            if produced >= consumed + capacity {
                condition.wait()
                continue
            }
            let number = produced
            produced += 1
            condition.unlock()
            let result = Result { try loader.batch(number) }
            condition.lock()
            ready[number] = result
            condition.broadcast()
        }
        condition.unlock()
    }

    func take(_ number: Int) throws -> DataBatch {
        condition.lock()
        defer { condition.unlock() }
        while ready[number] == nil { condition.wait() }
        let result = ready.removeValue(forKey: number)
        consumed += 1
        condition.broadcast()
        guard let result else { throw DatasetError.invalidRequest("internal: batch \(number) missing") }
        return try result.get()
    }

    func cancel() {
        condition.lock()
        cancelled = true
        condition.broadcast()
        condition.unlock()
    }
}
