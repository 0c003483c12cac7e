import ArgumentParser
import CNN
import CommandLineSupport
import Core
import Datasets
import Foundation
import GIGTrace

/// `gigtrace attribute`: per-sample input attributions (METHOD §7, §9) — IG, Gradient × Input,
/// gradient, SRD saliency, GGIG, Generalized IG — as .npy arrays and, for images, PNG heat maps
/// and overlays. Generalized IG also takes tabular models (feature rows `[N, F]`, e.g. a tree ensemble).
struct AttributeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attribute",
        abstract: "Input attributions (IG, Gradient × Input, gradient, SRD, GGIG, Generalized IG) as .npy, PNG heat maps for images (docs/METHOD.md §7, §9).",
        discussion: """
        Image models: writes into --out <method>_maps.npy (N×C×H×W; SRD N×1×H×W), <method>_summed.npy \
        (N×H×W, summed over channels), <method>_targets.npy (int64 [N]), and per image <method>_<n>_heat.png \
        and <method>_<n>_overlay.png (on the un-normalised image). Example:
          gigtrace attribute --model models/fashion-resnet/model.onnx --data t10k-images-idx3-ubyte.gz \\
            --mean 0.2860 --std 0.3530 --limit 4 --method ig --steps 50 --out maps/

        --method generalized-ig (Merrill et al.; docs/METHOD.md §9) explains models with tree-ensemble \
        nodes, jumps included, and reports every sample's completeness error (table on stderr, \
        generalized-ig_completeness.csv). Tabular models (input [N, F], e.g. a scikit-learn ensemble \
        exported with skl2onnx) take --data as a float32 .npy of shape [N, F] and --baseline zero, mean \
        or a .npy of [F], [1, F] or [N, F]; they get generalized-ig_attributions.npy (N×F), \
        generalized-ig_targets.npy and generalized-ig_attributions.csv (per sample: target, f(x), \
        f(baseline), the smooth and jump parts, crossings, completeness error, then one column per \
        feature) and no PNGs (heat maps are for images). Example:
          gigtrace attribute --model gb.onnx --data rows.npy --method generalized-ig --baseline mean --out gig/
        """
    )

    @Option(help: "The ONNX model file.")
    var model: String

    @OptionGroup var dataset: DatasetOptions

    @Option(help: "Only these samples, comma-separated positions in the selection (after --classes, --shuffle-seed, --limit).")
    var indices: CommaSeparated<Int>?

    @Option(help: "Attribution method: \(AttributionMethod.allCases.map(\.rawValue).joined(separator: ", ")).")
    var method: AttributionMethod = .integratedGradients

    @Option(help: "Logit to explain: pred (the predicted class), label (the dataset's label), a class index, or a class name.")
    var target: String = "pred"

    @Option(name: [.customLong("steps"), .customLong("n-steps")], help: "IG, Generalized IG: Captum's n_steps.")
    var steps: Int = 50

    @Option(help: "IG, Generalized IG: Captum's method: \(Quadrature.Method.allCases.map(\.rawValue).joined(separator: ", ")).")
    var quadrature: Quadrature.Method = .gaussLegendre

    @Option(help: "Baseline x' (IG, GGIG, Generalized IG): zero (in normalised space), mean (the mean of the selected samples), or a .npy of one sample's shape, [1, ...] or [N, ...] ([C,H,W] for images, [F] for feature rows).")
    var baseline: String = "zero"

    @Option(help: "Captum's internal_batch_size: scaled copies per forward/backward (default: as many as keep one chunk's activations within 128 MB per thread, evened out; the sum is the same up to rounding).")
    var internalBatchSize: Int?

    @Option(help: "GGIG: m, the number of intervals (points k/m for k = 0…m).")
    var intervals: Int = 50

    @Option(help: "GGIG: gradient-ascent variant with this many steps T per point (default: off, the scale-max form).")
    var ascentSteps: Int?

    @Option(help: "GGIG: the ascent's step size η.")
    var ascentRate: Float = 1e-4

    @Option(name: .customLong("output"), help: "Generalized IG: the graph output to explain (default: the first that is not a tree classifier's label; the other methods explain the first output).")
    var explainedOutput: String?

    @Option(help: "Generalized IG: most split-threshold crossings one sample's path may have (more is an error).")
    var maxCrossings: Int = 100_000

    @Option(help: "PNG colours (images only): signed (diverging) or absolute (sequential); both clip at the 99th percentile.")
    var render: AttributionRendering.Style = .signed

    @Flag(help: "Print one JSON line on stderr (even with --quiet) with the attribution computation's own wall time: {\"method\", \"samples\", \"attribution_seconds\"} — the attributor calls only, without start-up, model load, the target forward and writing.")
    var timing = false

    @OptionGroup var output: MapOutputOptions

    func validate() throws {
        guard steps > 0 else { throw ValidationError("--steps must be positive, got \(steps)") }
        guard intervals > 0 else { throw ValidationError("--intervals must be positive, got \(intervals)") }
        guard maxCrossings > 0 else { throw ValidationError("--max-crossings must be positive, got \(maxCrossings)") }
        if let b = internalBatchSize, b <= 0 { throw ValidationError("--internal-batch-size must be positive, got \(b)") }
        if explainedOutput != nil && method != .generalizedIG {
            throw ValidationError("--output applies to --method generalized-ig only (\(method.rawValue) explains the model's first output)")
        }
    }

    func run() throws {
        try reportingErrors { try compute() }
    }

    /// The command's work; throws the one-line `UserError` that `run()` prints.
    func compute() throws {
        let settings = AttributionSettings(quadrature: try Quadrature(method: quadrature, steps: steps), internalBatchSize: internalBatchSize,
                                           ggigIntervals: intervals,
                                           ggigAscent: try ascentSteps.map { try GGIGAscent(steps: $0, rate: ascentRate) },
                                           output: explainedOutput, maxCrossings: maxCrossings)
        try Self.prepareFolder(output.out)
        let m = try Model.load(path: model, threads: output.threads)
        if let name = explainedOutput, !m.outputNames.contains(name) {
            throw InputError.invalidInput("--output '\(name)' is not an output of \(model) (outputs: \(m.outputNames.joined(separator: ", ")))")
        }
        if m.inputShape.count == 1 {
            try computeTabular(model: m, settings: settings)
            return
        }
        let attributor = try method.attributor(model: m, settings: settings)
        let spec = try dataset.spec()
        let data = try Self.loadImages(spec: spec, indices: indices?.items)
        let n = data.images.shape[0]
        let perImage = Array(data.images.shape.dropFirst())
        let (channels, height, width) = (perImage[0], perImage[1], perImage[2])
        let size = perImage.reduce(1, *)
        let targets = try resolveTargets(model: m, settings: settings, samples: data.images, labels: data.labels, classNames: data.classNames)
        let baselines = try Self.baselines(baseline, samples: data.images)

        var maps = [Float](), summed = [Float]()
        var mapChannels = channels
        var progress = ProgressReporter(label: "attribute \(method.rawValue)", total: n, quiet: output.quiet)
        var accounts = [GeneralizedIntegratedGradients.Result]()
        var clock = AttributionClock()
        let raw = AttributionRendering.rawImage(data.images.data, channels: channels, mean: spec.preprocessing.mean, std: spec.preprocessing.std)
        for i in 0..<n {
            let image = data.images.slice(batch: i..<(i + 1))
            let base = baselines.shape[0] == 1 ? baselines : baselines.slice(batch: i..<(i + 1))
            let explained = try clock.measure { try Self.explain(attributor, sample: i, image, target: targets[i], baseline: base) }
            let map = explained.map
            if let account = explained.generalizedIG { accounts.append(account) }
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
        var summary = "wrote \(n) \(method.title) map(s) of \(height)×\(width) to \(output.out) (attribution \(clock.text))"
        if !accounts.isEmpty {
            let report = CompletenessReport(accounts: accounts, targets: targets)
            try AtomicFile.write(Data(report.csv(features: false).utf8), to: "\(output.out)/\(method.rawValue)_completeness.csv")
            if !output.quiet { ProgressReporter.writeStderr(report.table()) }
            summary += "\n" + report.summaryLine()
        }
        progress.finish(summary: summary, quietSummary: output.quiet)
        if timing { ProgressReporter.writeStderr(clock.json(method: method, samples: n) + "\n") }
    }

    /// A tabular model (input `[N, F]`): Generalized IG of every row of `--data`, written as
    /// `<method>_attributions.npy` `[N, F]`, `<method>_targets.npy` and `<method>_attributions.csv`.
    func computeTabular(model m: Model, settings: AttributionSettings) throws {
        let features = m.inputShape[0]
        guard method == .generalizedIG else {
            throw InputError.invalidInput("--method \(method.rawValue) takes image models; \(model) takes feature rows [N, \(features)]: use --method generalized-ig")
        }
        try checkNoImageOptions(features: features)
        let attributor = try method.attributor(model: m, settings: settings)
        let (rows, positions, fileRows) = try Self.loadRows(dataset.data, features: features, inputName: m.inputName,
                                                            indices: indices?.items, limit: dataset.limit)
        let n = rows.shape[0]
        var labels = [Int]()
        if let path = dataset.labels {
            let all = try Npy.read(path: path).integers(path: path)
            guard all.count == fileRows else {
                throw InputError.invalidInput("--labels \(path): \(all.count) labels for the \(fileRows) rows of \(dataset.data ?? "--data")")
            }
            labels = positions.map { all[$0] }
        }
        let targets = try resolveTargets(model: m, settings: settings, samples: rows, labels: labels, classNames: [])
        let baselines = try Self.baselines(baseline, samples: rows)
        var progress = ProgressReporter(label: "attribute \(method.rawValue)", total: n, unit: "rows", quiet: output.quiet)
        var attributions = [Float](), accounts = [GeneralizedIntegratedGradients.Result]()
        var clock = AttributionClock()
        for i in 0..<n {
            let base = baselines.shape[0] == 1 ? baselines : baselines.slice(batch: i..<(i + 1))
            let explained = try clock.measure {
                try Self.explain(attributor, sample: i, rows.slice(batch: i..<(i + 1)), target: targets[i], baseline: base)
            }
            attributions += explained.map.data
            if let account = explained.generalizedIG { accounts.append(account) }
            progress.advance()
        }
        let prefix = "\(output.out)/\(method.rawValue)"
        try Npy.write(Tensor(uncheckedShape: [n, features], data: attributions), to: prefix + "_attributions.npy")
        try Npy.write(int64: targets, shape: [n], to: prefix + "_targets.npy")
        let report = CompletenessReport(accounts: accounts, targets: targets)
        try AtomicFile.write(Data(report.csv(features: true).utf8), to: prefix + "_attributions.csv")
        if !output.quiet { ProgressReporter.writeStderr(report.table()) }
        progress.finish(summary: "wrote \(method.title) attributions of \(n) row(s) × \(features) features to \(output.out) (attribution \(clock.text))\n"
                            + report.summaryLine(), quietSummary: output.quiet)
        if timing { ProgressReporter.writeStderr(clock.json(method: method, samples: n) + "\n") }
    }

    /// The wall time spent in the attributor calls alone (what `--timing` reports): a benchmark
    /// compares it with a peer's attribution call over the same scope.
    struct AttributionClock {
        private(set) var seconds = 0.0

        mutating func measure<T>(_ body: () throws -> T) rethrows -> T {
            let start = DispatchTime.now().uptimeNanoseconds
            defer { seconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
            return try body()
        }

        var text: String { String(format: "%.2f s", seconds) }

        func json(method: AttributionMethod, samples: Int) -> String {
            "{\"method\": \"\(method.rawValue)\", \"samples\": \(samples), \"attribution_seconds\": " + String(format: "%.4f", seconds) + "}"
        }
    }

    /// One sample's attribution; an error names the sample, and Generalized IG's crossing-limit
    /// error (`GeneralizedIntegratedGradients.maxCrossings`) the option that sets the limit.
    static func explain(_ attributor: any InputAttributor, sample i: Int, _ x: Tensor, target: Int, baseline: Tensor) throws -> InputAttribution {
        do {
            return try attributor.explain(image: x, target: target, baseline: baseline)
        } catch let error as any UserError {
            let text = commandLineMessage(error)
            throw InputError.invalidInput("sample \(i): \(text)\(text.contains("crossing limit") ? "; --max-crossings sets the limit" : "")")
        }
    }

    /// Image-only dataset options are an error for feature rows (they would be silently ignored).
    func checkNoImageOptions(features: Int) throws {
        // --labels and --limit apply to feature rows too, and --format npy is what they are.
        let rowOptions: Set = ["--labels", "--limit"]
        if let flag = dataset.givenOptions.first(where: { !rowOptions.contains($0) && !($0 == "--format" && dataset.format == .npy) }) {
            throw InputError.invalidInput("\(flag) applies to image data; \(model) takes feature rows [N, \(features)], read from --data as given")
        }
    }

    /// Feature rows `[N, F]` of a tabular model from a float32 `.npy`: the first `limit` rows, then
    /// the `indices` positions among them; with the rows' positions in the file and its row count.
    static func loadRows(_ path: String?, features: Int, inputName: String, indices: [Int]?,
                         limit: Int?) throws -> (rows: Tensor, positions: [Int], fileRows: Int) {
        guard let path else { throw InputError.invalidInput("--data is required (a float32 .npy of feature rows [N, \(features)])") }
        guard path.lowercased().hasSuffix(".npy") else {
            throw InputError.invalidInput("--data \(path): a tabular model (input '\(inputName)' [N, \(features)]) takes a float32 .npy of shape [N, \(features)]")
        }
        let all = try Npy.read(path: path).floatTensor(path: path)
        guard all.rank == 2, all.shape[1] == features else {
            throw InputError.shapeMismatch("--data \(path): shape \(all.shape) is not [N, \(features)]: the model's input '\(inputName)' takes rows of \(features) features")
        }
        let positions = try Self.picked(indices, from: Array(0..<min(all.shape[0], max(0, limit ?? all.shape[0]))), of: "rows of \(path)")
        guard !positions.isEmpty else { throw InputError.invalidInput("no rows selected from \(path) (N = 0)") }
        let rows = Tensor(uncheckedShape: [positions.count, features],
                          data: positions.flatMap { all.data[($0 * features)..<(($0 + 1) * features)] })
        return (rows, positions, all.shape[0])
    }

    /// The `--indices` positions of `selection` (all of it without `--indices`); `what` names the
    /// selection in the error ("images of DATA").
    static func picked(_ indices: [Int]?, from selection: [Int], of what: String) throws -> [Int] {
        guard let indices else { return selection }
        return try indices.map { i in
            guard selection.indices.contains(i) else {
                throw InputError.invalidInput("--indices: '\(i)' is not a position in the selection of \(selection.count) \(what)")
            }
            return selection[i]
        }
    }

    /// `--target` for every sample, against the output the method explains.
    func resolveTargets(model m: Model, settings: AttributionSettings, samples: Tensor, labels: [Int], classNames: [String]) throws -> [Int] {
        let name = method.explainedOutput(model: m, settings: settings)
        let n = samples.shape[0]
        guard let scores = try m.forward(samples)[name] else { throw ModelError.unknownTensor(name, available: m.outputNames) }
        return try Self.resolveTargets(target, logits: scores, labels: labels, classNames: classNames, classCount: scores.count / max(1, n), count: n)
    }

    /// The images of the selection (or of the `--indices` positions in it), their labels and the class names.
    static func loadImages(spec: DatasetSpec, indices: [Int]?) throws -> (images: Tensor, labels: [Int], classNames: [String]) {
        var loader = try spec.makeLoader(batchSize: 64)
        if indices != nil {
            loader = loader.restricted(to: try Self.picked(indices, from: loader.indices, of: "images of \(spec.data)"))
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
    static func resolveTargets(_ text: String, logits: Tensor, labels: [Int], classNames: [String], classCount: Int, count n: Int) throws -> [Int] {
        switch text {
        case "pred":
            return (0..<n).map { i in
                let row = logits.data[(i * classCount)..<((i + 1) * classCount)]
                return (row.indices.max { row[$0] < row[$1] } ?? 0) - i * classCount
            }
        case "label":
            guard labels.count == n else {
                throw InputError.invalidInput("--target label: no labels for these \(n) samples (feature rows take them from --labels, an int64 .npy of N labels)")
            }
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

    /// `--baseline`: `[1 or N, ...]` of the samples' shape (`[C, H, W]` images, `[F]` feature rows).
    static func baselines(_ text: String, samples: Tensor) throws -> Tensor {
        let per = Array(samples.shape.dropFirst()), n = samples.shape[0], size = per.reduce(1, *)
        switch text {
        case "zero":
            return Tensor(shape: [1] + per)
        case "mean":
            var mean = [Float](repeating: 0, count: size)
            for i in 0..<n { for j in 0..<size { mean[j] += samples.data[i * size + j] / Float(n) } }
            return Tensor(uncheckedShape: [1] + per, data: mean)
        default:
            guard text.hasSuffix(".npy") else {
                throw InputError.invalidInput("--baseline: expected zero, mean or a .npy file, got '\(text)'")
            }
            let b = try Npy.read(path: text).floatTensor(path: text)
            if b.shape == per { return Tensor(uncheckedShape: [1] + per, data: b.data) }
            guard b.rank == per.count + 1, Array(b.shape.dropFirst()) == per, b.shape[0] == 1 || b.shape[0] == n else {
                let shape = per.map(String.init).joined(separator: ", ")
                throw InputError.shapeMismatch("--baseline \(text): shape \(b.shape) does not fit the \(n) samples of [\(shape)] (give [\(shape)], [1, \(shape)] or [\(n), \(shape)])")
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
