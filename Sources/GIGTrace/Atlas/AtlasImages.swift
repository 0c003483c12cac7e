import CNN
import Core
import Datasets
import Foundation
import PFV

/// The pixels an atlas shows: traced images re-opened from the dataset description a trace stores
/// (raw values in [0, 1], before Normalize), and, when the traced model can be loaded, the iERF
/// of each exemplar PFV (SRD, METHOD §2) to tint its patch.
///
///     let images = try AtlasImages(reader: reader, tracePath: "t.sqlite", modelPath: nil)
///     let pixels = try images.raw(17)        // [C, H, W] in [0, 1]
public struct AtlasImages: Sendable {
    let loader: DatasetLoader
    let spec: DatasetSpec
    /// One tracer per traced layer, when the model was found; nil otherwise.
    let tracers: [ReceptiveFieldTracer]?
    /// Why the iERF overlay is missing (nil when it is there).
    public let ierfUnavailable: String?

    /// Re-opens the dataset of the trace at `tracePath`, and the model (at `modelPath`, or the
    /// path the trace records) for iERF overlays. A missing dataset throws naming it; a missing or
    /// different model only drops the overlay (`ierfUnavailable` says why); `ierf: false` skips the model.
    public init(reader: TraceReader, tracePath: String, modelPath: String?, ierf: Bool = true) throws {
        let header = reader.header
        (spec, loader) = try DatasetPatchWriter.openRaw(header: header, tracePath: tracePath, purpose: "to show its images")
        let path = modelPath ?? header.model.path
        var reason: String?
        var tracers: [ReceptiveFieldTracer]?
        if !ierf {
            reason = "not asked for"
        } else if !FileManager.default.fileExists(atPath: path) {
            reason = "the traced model \(path) is not there (give its new place)"
        } else if let hash = try? SHA256.hex(ofFile: path), hash != header.model.sha256 {
            reason = "\(path) is not the traced model (SHA-256 differs)"
        } else {
            do {
                let model = try Model.load(path: path)
                tracers = try reader.layout.layers.map { try ReceptiveFieldTracer(model: model, layer: $0.name) }
            } catch {
                reason = "cannot load the traced model \(path): \(error)"
            }
        }
        self.tracers = tracers
        ierfUnavailable = reason
    }

    /// Number of images in the dataset.
    public var count: Int { loader.indices.count }

    /// Image `index` of the dataset, `[C, H, W]` in [0, 1].
    public func raw(_ index: Int) throws -> Tensor {
        guard loader.indices.indices.contains(index) else {
            throw TraceError.invalidSettings("image \(index) is not in \(spec.data) (\(count) images); was the dataset changed after tracing?")
        }
        let batch = try loader.batch(index).images
        return Tensor(uncheckedShape: Array(batch.shape.dropFirst()), data: batch.data)
    }

    /// iERF maps (H·W values each) of the PFVs at `positions` of traced layer `layer` in image
    /// `index` (`raw` is that image), or nil without the model.
    public func ierf(layer: Int, raw: Tensor, positions: [PFVPosition]) throws -> [[Float]]? {
        guard let tracers, !positions.isEmpty else { return nil }
        var input = raw
        let c = raw.shape[0], hw = raw.shape[1] * raw.shape[2]
        if !spec.mean.isEmpty {
            for ch in 0..<c {
                let m = spec.mean[min(ch, spec.mean.count - 1)], s = spec.std[min(ch, spec.std.count - 1)]
                for k in 0..<hw { input.data[ch * hw + k] = (input.data[ch * hw + k] - m) / s }
            }
        }
        let batch = Tensor(uncheckedShape: [1] + raw.shape, data: input.data)
        let maps = try tracers[layer].maps(images: batch, index: 0, positions: positions)
        return positions.indices.map { maps.map($0) }
    }
}
