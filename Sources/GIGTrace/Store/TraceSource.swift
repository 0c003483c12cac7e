import CNN
import Core
import Datasets
import Foundation
import PFV

/// A finished trace together with the model file and dataset it was made from, found again from
/// its header: what `gigtrace evaluate` and the graph sanity checks (`gigtrace sanity --trace`)
/// rerun. The model file must still be the traced one (its SHA-256 is checked); either may have
/// moved (`modelPath`, `dataPath` overrides).
///
///     let source = try TraceSource.open("demo/trace.sqlite")
///     let model = try source.loadModel(threads: 2)
///     let loader = try source.spec.makeLoader(batchSize: 32)
public struct TraceSource: Sendable {
    public let path: String
    public let reader: TraceReader
    /// The model file (the header's path, or the override).
    public let modelPath: String
    /// The dataset, preprocessing and selection the trace used (with the overridden path).
    public let spec: DatasetSpec

    /// Opens the trace and checks that its model and dataset are still there; every problem is one
    /// error naming the file and the option that fixes it.
    public static func open(_ path: String, modelPath: String? = nil, dataPath: String? = nil) throws -> TraceSource {
        let reader = try TraceReader.open(path)
        let header = reader.header
        let model = modelPath ?? header.model.path
        guard FileManager.default.fileExists(atPath: model) else {
            throw InputError.invalidParameter(.model, "\(path): its model \(model) no longer exists; give its new place")
        }
        let sha = try SHA256.hex(ofFile: model)
        guard sha == header.model.sha256 else {
            throw TraceError.invalidSettings("\(model) is not the model \(path) was traced with (SHA-256 differs)")
        }
        var spec = try DatasetSpec.parse(header.preprocessingJSON, origin: path)
        if let dataPath { spec.data = dataPath }
        guard FileManager.default.fileExists(atPath: spec.data) else {
            throw InputError.invalidParameter(.data, "\(path): its dataset \(spec.data) no longer exists (moved?); give its new place")
        }
        return TraceSource(path: path, reader: reader, modelPath: model, spec: spec)
    }

    /// The traced model. `foldBatchNorm: false` keeps BatchNormalization apart from the convs (what
    /// re-initialising a conv's weights needs, METHOD §7); the graph is the same up to rounding.
    public func loadModel(threads: Int, foldBatchNorm: Bool = true) throws -> Model {
        var model = try Model.load(path: modelPath, threads: threads, foldBatchNorm: foldBatchNorm)
        model.threads = threads
        return model
    }

    /// What the trace's layer → next-layer edges flow into (METHOD §4); throws for a target this
    /// build does not know.
    public func conceptTarget() throws -> ConceptTarget {
        let settings = reader.header.settings
        guard let target = settings.conceptTarget else {
            throw TraceError.invalidTrace("\(path) was traced with concept target '\(settings.extra["conceptTarget"] ?? "")', which this build does not know")
        }
        return target
    }

    /// Throws when an image of `records` is not among `loader`'s images: the dataset (or its
    /// selection) changed since the trace.
    public func checkImages(_ records: [ImageRecord], in loader: DatasetLoader) throws {
        let available = Set(loader.indices)
        if let missing = records.first(where: { !available.contains($0.index) }) {
            throw TraceError.invalidSettings("image \(missing.index) of \(path) is not in its dataset any more (\(loader.indices.count) images): did the dataset change?")
        }
    }

    /// The traced layers' geometry in `model`, in forward order.
    public func layers(in model: Model) throws -> [LayerGeometry] {
        try reader.header.banks.map { try LayerGeometry(model: model, layer: $0.layer) }
    }
}
