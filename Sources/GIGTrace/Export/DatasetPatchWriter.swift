import Core
import Datasets
import Foundation
import PFV

/// Writes exemplar patches by re-opening the dataset a trace was made from: the trace header's
/// preprocessing JSON is the `DatasetSpec` of the run (files + preprocessing), an exemplar's
/// `image` is its dataset index, and its patch box is cropped from the preprocessed image
/// *before* Normalize (raw values in [0, 1] → 8-bit grey or RGB PNG).
public struct DatasetPatchWriter: ExemplarPatchWriter, Sendable {
    /// The dataset in its own order, preprocessed without Normalize, one image per batch.
    let loader: DatasetLoader
    let spec: DatasetSpec

    /// Re-opens the dataset recorded in `header` (of the trace at `tracePath`, named in errors).
    /// Throws one line naming the dataset path when it is missing or cannot be read.
    public init(header: TraceHeader, tracePath: String) throws {
        (spec, loader) = try Self.openRaw(header: header, tracePath: tracePath, purpose: "to cut exemplar patches")
    }

    public func writePatch(_ exemplar: ConceptExemplar, layer: Int, index: Int, to path: String) throws {
        guard loader.indices.indices.contains(exemplar.image) else {
            throw TraceError.invalidSettings("exemplar of concept \(layer):\(index) is image \(exemplar.image), but \(spec.data) has \(loader.indices.count) images (valid 0..<\(loader.indices.count)); was the dataset changed after tracing?")
        }
        let image = try loader.batch(exemplar.image).images
        try ExemplarPatch(image: image, box: exemplar.box).writePNG(to: path)
    }

    /// The dataset a trace records, one image per batch in dataset order, preprocessed without
    /// Normalize (raw values in [0, 1]). Errors name the trace or the dataset path and `purpose`.
    static func openRaw(header: TraceHeader, tracePath: String, purpose: String) throws -> (DatasetSpec, DatasetLoader) {
        let spec: DatasetSpec
        do {
            spec = try DatasetSpec.parse(header.preprocessingJSON, origin: tracePath)
        } catch {
            throw TraceError.invalidSettings("\(tracePath) does not record how to re-open its dataset (its preprocessing is not a dataset description), so it cannot be opened \(purpose)")
        }
        var raw = spec.preprocessing
        raw.mean = []
        raw.std = []
        do {
            return (spec, try DatasetLoader(dataset: spec.openDataset(), preprocessing: raw, batchSize: 1))
        } catch {
            throw TraceError.invalidSettings("cannot re-open the traced dataset \(spec.data) (recorded in \(tracePath)) \(purpose): \(error)")
        }
    }
}
