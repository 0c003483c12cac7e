import CNN
import Datasets
import PFV

extension MultiLayerSampler {
    /// Streams every batch of `loader` through `add` and returns the samples, one set per layer.
    /// `progress(images)` is called after each batch with the number of images it held.
    public static func sample(model: Model, loader: DatasetLoader, layers: [String], perImage: SamplesPerImage = .count(4),
                              seed: UInt64, classSource: ClassSource = .prediction, prefetchThreads: Int = 0,
                              progress: (Int) -> Void = { _ in }) throws -> [PFVSet] {
        var sampler = try MultiLayerSampler(model: model, layers: layers, perImage: perImage, seed: seed, classSource: classSource)
        let stream = loader.stream(prefetchThreads: prefetchThreads)
        while let batch = try stream.next() {
            guard !batch.indices.isEmpty else { continue }
            try sampler.add(PFVBatch(images: batch.images, labels: batch.labels, imageIndices: batch.indices))
            progress(batch.indices.count)
        }
        return sampler.samples
    }
}
