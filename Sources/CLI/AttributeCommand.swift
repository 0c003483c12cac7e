import ArgumentParser
import CNN
import CommandLineSupport
import Core
import Datasets
import Foundation
import GIGTrace


/// `gigtrace attribute`: per-image input attribution maps (METHOD §7) — IG, Gradient × Input,
/// gradient, SRD saliency, GGIG — as .npy arrays and PNG heat maps and overlays.
struct AttributeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attribute",
        abstract: "Input attribution maps (IG, Gradient × Input, gradient, SRD, GGIG) as .npy and PNG heat maps (docs/METHOD.md §7).",
        discussion: """
        Writes into --out: <method>_maps.npy (N×C×H×W; SRD N×1×H×W), <method>_summed.npy (N×H×W, \
        summed over channels), <method>_targets.npy (int64 [N]), and per image <method>_<n>_heat.png \
        and <method>_<n>_overlay.png (on the un-normalised image). Example:
          gigtrace attribute --model models/fashion-resnet/model.onnx --data t10k-images-idx3-ubyte.gz \\
            --mean 0.2860 --std 0.3530 --limit 4 --method ig --steps 50 --out maps/
        """
    )

    @Option(help: "The ONNX model file.")
    var model: String

    @OptionGroup var dataset: DatasetOptions

    @Option(help: "Only these images, comma-separated positions in the selection (after --classes, --shuffle-seed, --limit).")
    var indices: CommaSeparated<Int>?

    @Option(help: "Attribution method: \(AttributionMethod.allCases.map(\.rawValue).joined(separator: ", ")).")
    var method: AttributionMethod = .integratedGradients

    @Option(help: "Logit to explain: pred (the predicted class), label (the dataset's label), a class index, or a class name.")
    var target: String = "pred"

    @Option(help: "IG: Captum's n_steps.")
    var steps: Int = 50

    @Option(help: "IG: Captum's method: \(Quadrature.Method.allCases.map(\.rawValue).joined(separator: ", ")).")
    var quadrature: Quadrature.Method = .gaussLegendre

    @Option(help: "Baseline x' (IG, GGIG): zero (in normalised space), mean (the mean of the selected images), or a .npy of [C,H,W], [1,C,H,W] or [N,C,H,W].")
    var baseline: String = "zero"

    @Option(help: "Captum's internal_batch_size: scaled copies per forward/backward (default: all at once).")
    var internalBatchSize: Int?

    @Option(help: "GGIG: m, the number of intervals (points k/m for k = 0…m).")
    var intervals: Int = 50

    @Option(help: "GGIG: gradient-ascent variant with this many steps T per point (default: off, the scale-max form).")
    var ascentSteps: Int?

    @Option(help: "GGIG: the ascent's step size η.")
    var ascentRate: Float = 1e-4

    @Option(help: "PNG colours: signed (diverging) or absolute (sequential); both clip at the 99th percentile.")
    var render: AttributionRendering.Style = .signed

    @OptionGroup var output: MapOutputOptions

    func validate() throws {
        guard steps > 0 else { throw ValidationError("--steps must be positive, got \(steps)") }
        guard intervals > 0 else { throw ValidationError("--intervals must be positive, got \(intervals)") }
        if let b = internalBatchSize, b <= 0 { throw ValidationError("--internal-batch-size must be positive, got \(b)") }
    }

    func run() throws {
        try reportingErrors { try compute() }
    }

    /// The command's work; throws the one-line `UserError` that `run()` prints.
    func compute() throws {
        let settings = AttributionSettings(quadrature: try Quadrature(method: quadrature, steps: steps), internalBatchSize: internalBatchSize,
                                           ggigIntervals: intervals,
                                           ggigAscent: try ascentSteps.map { try GGIGAscent(steps: $0, rate: ascentRate) })
        try Self.prepareFolder(output.out)
        let m = try Model.load(path: model, threads: output.threads)
        let attributor = try method.attributor(model: m, settings: settings)
        let spec = try dataset.spec()
        let data = try Self.loadImages(spec: spec, indices: indices?.items)
        let n = data.images.shape[0]
        let perImage = Array(data.images.shape.dropFirst())
        let (channels, height, width) = (perImage[0], perImage[1], perImage[2])
        let size = perImage.reduce(1, *)
        let logits = try m.forward(data.images)[m.outputNames.first ?? ""] ?? Tensor(shape: [n, 0])
        let classCount = logits.count / max(1, n)
        let targets = try Self.resolveTargets(target, logits: logits, labels: data.labels, classNames: data.classNames, classCount: classCount)
        let baselines = try Self.baselines(baseline, images: data.images)

        var maps = [Float](), summed = [Float]()
        var mapChannels = channels
        var progress = ProgressReporter(label: "attribute \(method.rawValue)", total: n, quiet: output.quiet)
        let raw = AttributionRendering.rawImage(data.images.data, channels: channels, mean: spec.preprocessing.mean, std: spec.preprocessing.std)
        for i in 0..<n {
            let image = data.images.slice(batch: i..<(i + 1))
            let base = baselines.shape[0] == 1 ? baselines : baselines.slice(batch: i..<(i + 1))
            let map = try attributor.attribute(image: image, target: targets[i], baseline: base)
            mapChannels = map.shape[1]
            let plane = AttributionRendering.channelSum(map.data, channels: mapChannels)
            maps += map.data
            summed += plane
            let prefix = "\(output.out)/\(method.rawValue)_\(i)"
            try AttributionRendering.writePNG(AttributionRendering.heatmap(plane, style: render), width: width, height: height, to: prefix + "_heat.png")
            let rawImage = Array(raw[(i * size)..<((i + 1) * size)])
            try AttributionRendering.writePNG(AttributionRendering.overlay(plane, raw: rawImage, channels: channels, style: render),
                                              width: width, height: height, to: prefix + "_overlay.png")
            progress.advance()
        }
        try Npy.write(Tensor(uncheckedShape: [n, mapChannels, height, width], data: maps), to: "\(output.out)/\(method.rawValue)_maps.npy")
        try Npy.write(Tensor(uncheckedShape: [n, height, width], data: summed), to: "\(output.out)/\(method.rawValue)_summed.npy")
        try Npy.write(int64: targets, shape: [n], to: "\(output.out)/\(method.rawValue)_targets.npy")
        progress.finish(summary: "wrote \(n) \(method.title) map(s) of \(height)×\(width) to \(output.out)", quietSummary: output.quiet)
    }

    /// The images of the selection (or of the `--indices` positions in it), their labels and the class names.
    static func loadImages(spec: DatasetSpec, indices: [Int]?) throws -> (images: Tensor, labels: [Int], classNames: [String]) {
        var loader = try spec.makeLoader(batchSize: 64)
        if let indices {
            let picks = try indices.map { i -> Int in
                guard (0..<loader.indices.count).contains(i) else {
                    throw InputError.invalidInput("--indices: '\(i)' is not a position in the selection of \(loader.indices.count) images of \(spec.data)")
                }
                return loader.indices[i]
            }
            loader = loader.restricted(to: picks)
        }
        guard !loader.indices.isEmpty else { throw InputError.invalidInput("no images selected from \(spec.data) (N = 0)") }
        var batches = [Tensor](), labels = [Int]()
        for b in 0..<loader.batchCount {
            let batch = try loader.batch(b)
            batches.append(batch.images)
            labels += batch.labels
        }
        return (try Tensor.concatenate(batches: batches), labels, loader.dataset.classNames)
    }

    /// `--target` per image: pred | label | class index | class name.
    static func resolveTargets(_ text: String, logits: Tensor, labels: [Int], classNames: [String], classCount: Int) throws -> [Int] {
        let n = labels.count
        switch text {
        case "pred":
            return (0..<n).map { i in
                let row = logits.data[(i * classCount)..<((i + 1) * classCount)]
                return (row.indices.max { row[$0] < row[$1] } ?? 0) - i * classCount
            }
        case "label":
            guard labels.allSatisfy({ (0..<classCount).contains($0) }) else {
                throw InputError.invalidInput("--target label: the dataset has no label in 0..<\(classCount) for some images (labels \(Set(labels).sorted()))")
            }
            return labels
        default:
            if let c = Int(text) {
                guard (0..<classCount).contains(c) else {
                    throw InputError.invalidInput("--target \(c) is out of range: the model has \(classCount) classes (0..<\(classCount))")
                }
                return [Int](repeating: c, count: n)
            }
            guard let c = classNames.firstIndex(of: text), c < classCount else {
                let known = classNames.isEmpty ? "the dataset has no class names" : "known: \(classNames.prefix(20).joined(separator: ", "))"
                throw InputError.invalidInput("--target '\(text)' is not pred, label, a class index or a class name (\(known))")
            }
            return [Int](repeating: c, count: n)
        }
    }

    /// `--baseline`: `[1 or N, C, H, W]`.
    static func baselines(_ text: String, images: Tensor) throws -> Tensor {
        let per = Array(images.shape.dropFirst()), n = images.shape[0], size = per.reduce(1, *)
        switch text {
        case "zero":
            return Tensor(shape: [1] + per)
        case "mean":
            var mean = [Float](repeating: 0, count: size)
            for i in 0..<n { for j in 0..<size { mean[j] += images.data[i * size + j] / Float(n) } }
            return Tensor(uncheckedShape: [1] + per, data: mean)
        default:
            guard text.hasSuffix(".npy") else {
                throw InputError.invalidInput("--baseline: expected zero, mean or a .npy file, got '\(text)'")
            }
            let b = try Npy.read(path: text).floatTensor(path: text)
            if b.shape == per { return Tensor(uncheckedShape: [1] + per, data: b.data) }
            guard b.rank == 4, Array(b.shape.dropFirst()) == per, b.shape[0] == 1 || b.shape[0] == n else {
                throw InputError.shapeMismatch("\(text): baseline of shape \(b.shape); the images are \(per) (give [C,H,W], [1,C,H,W] or [\(n),C,H,W])")
            }
            return b
        }
    }

    /// Creates `path` if needed and checks it is a writable folder, before any work.
    static func prepareFolder(_ path: String) throws {
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) {
            guard isFolder.boolValue else { throw InputError.invalidInput("--out \(path) exists and is not a folder") }
        } else {
            do {
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            } catch {
                throw InputError.invalidInput("--out \(path): cannot create the folder (\(error.localizedDescription))")
            }
        }
        guard FileManager.default.isWritableFile(atPath: path) else { throw InputError.invalidInput("--out \(path) is not writable") }
    }
}
