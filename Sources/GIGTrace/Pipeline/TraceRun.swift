import CNN
import Concepts
import Core
import Datasets
import Foundation
import PFV

/// The trace pipeline (METHOD §1–5), as `gigtrace trace` runs it.
///
/// Pass 1 learns one concept bank per traced layer from PFVs sampled over the first
/// `conceptImages` images of the whole selection (so every shard learns identical banks), or
/// loads the given bank files. Pass 2 streams the shard's images through `BatchTracer` into a
/// `TraceWriter`, checkpointing every `checkpointImages` images or `checkpointSeconds`.
///
/// A rerun with the same configuration resumes an interrupted trace from its partial file, reusing
/// its stored banks; different settings are refused naming the difference. A finished output is
/// refused unless `force`.
public struct TraceRun: Sendable {
    public let configuration: TraceConfiguration
    public let model: Model
    public let layers: [LayerGeometry]
    public let classNames: [String]
    /// The whole selection, in visiting order.
    public let loader: DatasetLoader
    /// Dataset indices of this run's shard (a contiguous block of the selection).
    public let shardIndices: [Int]
    /// Images left out with `--skip-bad` because their labels are outside the model's classes.
    let labelWarnings: [String]

    /// Loads the model and dataset and checks the configuration; nothing is written.
    public init(_ configuration: TraceConfiguration) throws {
        var c = configuration
        guard c.shardCount >= 1, (0..<c.shardCount).contains(c.shardIndex) else {
            throw InputError.invalidParameter(.shard, "shard must be I/N with 0 ≤ I < N, got \(c.shardIndex)/\(c.shardCount)")
        }
        guard c.conceptImages >= 1 else { throw InputError.invalidParameter(.conceptImages, "concept images must be at least 1, got \(c.conceptImages)") }
        guard c.checkpointImages >= 1 else { throw TraceError.invalidSettings("checkpoint interval must be at least 1 image") }
        guard c.threads >= 1 else { throw InputError.invalidParameter(.threads, "threads must be at least 1, got \(c.threads)") }
        guard c.exemplarMass > 0 && c.exemplarMass <= 1 else {
            throw TraceError.invalidSettings("exemplar patch mass must be in (0, 1], got \(c.exemplarMass)")
        }
        guard c.lambda.isFinite, c.lambda >= 0 else { throw InputError.invalidParameter(.lambda, "lambda must be a finite number ≥ 0, got \(c.lambda)") }
        if c.conceptBankPaths.isEmpty, let problem = ConceptBank.codingProblem(method: c.method, coding: c.coding) {
            throw InputError.invalidParameter(.coding, problem)
        }
        _ = try Quadrature(method: c.quadrature, steps: c.steps)
        let model = try Model.load(path: c.modelPath, threads: c.threads)
        let names = c.layers.isEmpty ? model.suggestedTraceLayers : c.layers
        guard !names.isEmpty else {
            throw InputError.invalidParameter(.layers, "the model suggests no trace layers; name them (see `gigtrace inspect`)")
        }
        if let repeated = names.first(where: { n in names.filter { $0 == n }.count > 1 }) {
            throw InputError.invalidParameter(.layers, "'\(repeated)' is listed twice")
        }
        layers = try names.map { try LayerGeometry(model: model, layer: $0) }
        if let multiple = c.conceptsPerChannel, c.method != .identity {
            guard multiple >= 1 else {
                throw InputError.invalidParameter(.conceptsPerChannel, "K per channel must be at least 1, got \(multiple)")
            }
            c.conceptsPerLayer = layers.map { $0.channels * multiple }
        }
        if c.method != .identity {
            guard c.conceptsPerLayer.count == 1 || c.conceptsPerLayer.count == names.count else {
                throw InputError.invalidParameter(.conceptsPerLayer, "K per layer has \(c.conceptsPerLayer.count) values for \(names.count) traced layers")
            }
            if let bad = c.conceptsPerLayer.first(where: { $0 < 1 }) {
                throw TraceError.invalidSettings("the number of concepts K must be at least 1, got \(bad)")
            }
        }
        guard c.conceptBankPaths.isEmpty || c.conceptBankPaths.count == names.count
                || (c.conceptBankPaths.count == 1 && TraceRun.isTraceDatabase(c.conceptBankPaths[0])) else {
            throw InputError.invalidParameter(.conceptBanks, "\(c.conceptBankPaths.count) files for \(names.count) traced layers "
                + "(one bank file per layer in order, or one trace database)")
        }
        // Checked here, before pass 1, by the same functions BatchTracer uses.
        let (output, classCount) = try BatchTracer.classLogits(of: model)
        _ = try GIGComputations.subnetworks(model: model, layers: names, output: output)
        var loader = try c.dataset.makeLoader(batchSize: c.batchSize, skipBad: c.skipBad)
        // Labels index the model's classes (−1: unlabelled); others are errors, or skipped with --skip-bad.
        let labels = loader.dataset.labels
        let outside = loader.indices.filter { labels[$0] < -1 || labels[$0] >= classCount }
        if let first = outside.first {
            let what = "image \(first) (\(loader.dataset.identifier(at: first))) has label \(labels[first]), outside the model's \(classCount) classes 0..<\(classCount)"
            guard c.skipBad else {
                throw InputError.invalidParameter(.skipBad, "\(what)" + (outside.count > 1 ? " (and \(outside.count - 1) more images)" : "") + "; skipping bad images leaves such images out")
            }
            let bad = Set(outside)
            loader = loader.restricted(to: loader.indices.filter { !bad.contains($0) })
            labelWarnings = ["skipped \(outside.count) images whose labels are outside the model's classes; first: \(what)"]
        } else {
            labelWarnings = []
        }
        self.loader = loader
        classNames = try TraceRun.classNames(c, count: classCount, dataset: loader.dataset)
        let all = loader.indices
        shardIndices = Array(all[(c.shardIndex * all.count / c.shardCount)..<((c.shardIndex + 1) * all.count / c.shardCount)])
        self.model = model
        self.configuration = c
    }

    /// What a run reports while it works (the library never prints; the CLI draws these).
    public enum Progress: Sendable {
        /// Pass 1: PFVs sampled from `done` of `total` images.
        case sampling(done: Int, total: Int)
        /// Pass 1 finished: each layer's bank quality.
        case banksLearned([QualityReport])
        /// Pass 2: `done` of the shard's `total` images are traced, `resumed` of them by an earlier run.
        case tracing(done: Int, total: Int, resumed: Int)
        /// An image was skipped (`skipBad`), with the reason.
        case skipped(String)
    }

    /// Runs both passes. `shouldStop(images traced by this run)` is asked after every batch; when it
    /// says yes the run checkpoints and returns unfinished (rerunning resumes).
    public func run(shouldStop: (Int) -> Bool = { _ in false }, progress: (Progress) -> Void = { _ in }) throws -> TraceOutcome {
        let c = configuration
        let partial = TraceWriter.partialPath(for: c.output)
        let started = Date()
        var warnings = layers.compactMap { g -> String? in
            guard let tracer = try? ReceptiveFieldTracer(model: model, layer: g.name), !tracer.srdUnsupportedNodes.isEmpty else { return nil }
            return "exemplar boxes of \(g.name) use the gradient ERF: SRD does not cover \(tracer.srdUnsupportedNodes.joined(separator: ", "))"
        } + labelWarnings
        if model.hasTreeEnsembles {
            // Contribution sampling weighs PFVs by gradient × activation, and no gradient passes a tree.
            guard !c.conceptBankPaths.isEmpty || FileManager.default.fileExists(atPath: partial) else {
                throw InputError.invalidParameter(.conceptBanks, "the model has tree-ensemble nodes, through which gradients are zero, so concepts cannot be learned by contribution sampling: give concept banks (banks learned on the network without its tree head, or a trace database of it)")
            }
            warnings.append("the model has tree-ensemble nodes: concept → class edges are computed with Generalized IG (Merrill et al.; docs/METHOD.md §9), the head's jumps credited at their crossing points")
        }
        // A resumed run codes with the banks its partial file stores (or the given bank files,
        // which must equal them); a new run learns its banks (pass 1) once the output is checked.
        var banks: [ConceptBank] = []
        let writer = try TraceWriter.open(at: c.output, force: c.force) { stored in
            if !c.conceptBankPaths.isEmpty {
                banks = try loadBanks()
            } else if let stored {
                banks = stored
            } else {
                banks = try learnBanks(progress: progress, shouldStop: { shouldStop(0) })
            }
            banks = try Self.coding(banks, c.coding)
            return try header(banks)
        }

        let tracer = try BatchTracer(model: model, layers: layers, banks: banks,
                                     quadrature: try Quadrature(method: c.quadrature, steps: c.steps),
                                     exemplarMass: c.exemplarMass, codingThreads: c.threads, mode: c.gigMode,
                                     errorNode: c.errorNode, conceptTarget: c.conceptTarget)
        let completed = writer.completedImages
        let todo = shardIndices.filter { !completed.contains($0) }
        let resumed = shardIndices.count - todo.count
        var done = resumed
        progress(.tracing(done: done, total: shardIndices.count, resumed: resumed))
        var completeness = [(image: Int, error: Double)]()
        var lastCheckpoint = Date()
        var stopped = false
        var processed = 0
        let stream = loader.restricted(to: todo).stream(prefetchThreads: c.prefetchThreads)
        while let batch = try stream.next() {
            for (i, var trace) in try tracer.trace(batch).enumerated() {
                try tracer.placeExemplars(&trace, images: batch.images, position: i) { l, q, candidate in
                    let kept = writer.graph.exemplars[l][q]
                    guard kept.count >= writer.graph.exemplarLimit, let last = kept.last else { return true }
                    return ConceptExemplar.ranksBefore(candidate, last)
                }
                try writer.add(trace)
                completeness.append((trace.index, trace.completenessError))
            }
            for skipped in batch.skipped { progress(.skipped("\(skipped)")) }
            done += batch.indices.count + batch.skipped.count
            progress(.tracing(done: done, total: shardIndices.count, resumed: resumed))
            if writer.pendingCount >= c.checkpointImages || Date().timeIntervalSince(lastCheckpoint) >= c.checkpointSeconds {
                try writer.checkpoint()
                lastCheckpoint = Date()
            }
            processed += batch.indices.count + batch.skipped.count
            if processed < todo.count && shouldStop(completeness.count) {
                stopped = true
                break
            }
        }
        if stopped {
            try writer.checkpoint()
            return TraceOutcome(finished: false, path: partial, shardImages: shardIndices.count, resumedImages: resumed,
                                tracedImages: completeness.count, seconds: Date().timeIntervalSince(started),
                                completeness: completeness, warnings: warnings)
        }
        try writer.finish()
        if resumed > 0 {
            completeness = writer.completeness.map { ($0.key, $0.value) }.sorted { $0.0 < $1.0 }
        }
        let stored = try TraceReader.open(c.output)
        let faithfulness = FaithfulnessSummary(layout: stored.layout, rows: try stored.database.readImageLayers())
        if completeness.contains(where: { !$0.error.isFinite }) {
            warnings.append("some images have no finite completeness error (a target's Δg is zero while its GIG is not)")
        }
        return TraceOutcome(finished: true, path: c.output, shardImages: shardIndices.count, resumedImages: resumed,
                            tracedImages: completeness.count - resumed, seconds: Date().timeIntervalSince(started),
                            completeness: completeness, warnings: warnings, faithfulness: faithfulness)
    }

    /// Pass 1: samples PFVs of all traced layers over the first `conceptImages` images of the
    /// selection (one forward and backward per batch) and learns one bank per layer.
    /// `shouldStop()` is asked after every batch of pass 1; when it says yes, `TraceInterrupted` is
    /// thrown (nothing has been written yet).
    func learnBanks(progress: (Progress) -> Void, shouldStop: () -> Bool = { false }) throws -> [ConceptBank] {
        let c = configuration
        let sampleLoader = loader.restricted(to: Array(loader.indices.prefix(c.conceptImages)))
        // One thread throughout pass 1: floating-point results then do not depend on --threads,
        // so shards run with different thread counts learn bit-identical banks (merge requires it).
        var singleThreaded = model
        singleThreaded.threads = 1
        var learning = ConceptBankLearning(method: c.method, conceptsPerLayer: c.conceptsPerLayer, seed: c.seed)
        learning.perImage = .count(c.samplesPerImage)
        learning.lambda = c.lambda
        learning.coding = c.coding
        learning.prefetchThreads = c.prefetchThreads
        let banks = try learning.learn(model: singleThreaded, loader: sampleLoader, layers: layers) { event in
            if case .sampled(let done, let total) = event {
                progress(.sampling(done: done, total: total))
                if shouldStop() { throw TraceInterrupted() }
            }
        }
        progress(.banksLearned(banks.map(\.quality)))
        return banks
    }

    /// The `--concept-bank` files, one per traced layer, checked against the layers; or the banks
    /// of an existing trace database (e.g. shard 0's, so that shards on machines whose floating
    /// point differs still share identical banks).
    func loadBanks() throws -> [ConceptBank] {
        let paths = configuration.conceptBankPaths
        if paths.count == 1, TraceRun.isTraceDatabase(paths[0]) {
            let stored = try TraceDatabase.open(paths[0]).readHeader().header.banks
            return try layers.map { g in
                guard let record = stored.first(where: { $0.layer == g.name }), record.channels == g.channels else {
                    throw InputError.invalidParameter(.conceptBanks, "\(paths[0]) has no concept bank for layer '\(g.name)'; it has "
                        + stored.map(\.layer).joined(separator: ", "))
                }
                return record
            }
        }
        return try zip(paths, layers).map { path, g in
            try ConceptBank.read(from: path, layer: g.name, channels: g.channels)
        }
    }

    /// `banks` coding with `coding` (a resumed trace's stored banks carry its stored coding, and a
    /// different one then shows as a settings difference); throws naming `--coding` for a bank whose
    /// method has no debiased codes.
    static func coding(_ banks: [ConceptBank], _ coding: ConceptBank.Coding) throws -> [ConceptBank] {
        try banks.map { bank in
            if let problem = ConceptBank.codingProblem(method: bank.method, coding: coding) {
                throw InputError.invalidParameter(.coding, "concept bank of layer '\(bank.layer)': \(problem)")
            }
            var coded = bank
            coded.coding = coding
            return coded
        }
    }

    /// Whether `path` is an SQLite file (a trace database) rather than a bank's JSON.
    static func isTraceDatabase(_ path: String) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        return (try? handle.read(upToCount: 16)) == Data("SQLite format 3\u{0}".utf8)
    }

    /// The header this run writes (and a resumed trace must match).
    func header(_ banks: [ConceptBank]) throws -> TraceHeader {
        let c = configuration
        let methods = banks.map(\.method.rawValue)
        let settings = RunSettings(
            layers: layers.map(\.name), conceptMethod: Set(methods).count == 1 ? methods[0] : methods.joined(separator: ","),
            conceptsPerLayer: banks.map(\.k), steps: c.steps, quadrature: c.quadrature.rawValue, seed: c.seed,
            shardIndex: c.shardIndex, shardCount: c.shardCount, datasetPath: c.dataset.data, datasetCount: loader.indices.count,
            extra: ["conceptImages": "\(c.conceptImages)", "samplesPerImage": "\(c.samplesPerImage)", "lambda": "\(c.lambda)",
                    "exemplarMass": "\(c.exemplarMass)",
                    "targetMask": GIGComputation.TargetMask.masked.rawValue].merging(
                        c.errorNode ? ["errorNode": "true"] : [:]) { a, _ in a }
                     .merging(c.conceptTarget == .projection ? [:] : ["conceptTarget": c.conceptTarget.rawValue]) { a, _ in a }
                     .merging(c.coding == .lasso ? [:] : ["coding": c.coding.rawValue]) { a, _ in a })
        let identity = ModelIdentity(sha256: try SHA256.hex(ofFile: c.modelPath), path: c.modelPath,
                                     inputShape: model.inputShape, classNames: classNames)
        return TraceHeader(model: identity, preprocessingJSON: try c.dataset.jsonText(), settings: settings,
                           banks: banks)
    }

    /// Class names in logit order: given, else the dataset's class-names file, else `classes.txt`
    /// beside the model, else the dataset's own names, else "0", "1", …; given names and
    /// `classes.txt` must match the number of logits.
    static func classNames(_ c: TraceConfiguration, count: Int, dataset: any ImageDataset) throws -> [String] {
        if let given = c.classNames {
            guard given.count == count else {
                throw TraceError.invalidSettings("\(given.count) class names for a model with \(count) logits")
            }
            return given
        }
        if c.dataset.classNames != nil, dataset.classNames.count == count { return dataset.classNames }   // --class-names
        let beside = URL(fileURLWithPath: c.modelPath).deletingLastPathComponent().appendingPathComponent("classes.txt").path
        if FileManager.default.fileExists(atPath: beside) {
            let names = try BuiltinClassNames.read(path: beside)
            guard names.count == count else {
                throw TraceError.invalidSettings("\(beside): \(names.count) class names (one per line) for a model with \(count) logits")
            }
            return names
        }
        if dataset.classNames.count == count { return dataset.classNames }
        return (0..<count).map(String.init)
    }
}

/// Thrown by `TraceRun.run` when `shouldStop` says yes during pass 1 (sampling PFVs and learning
/// concepts), before any output exists: there is nothing to resume, a rerun starts pass 1 again.
public struct TraceInterrupted: Error, CustomStringConvertible {
    public init() {}
    public var description: String { "interrupted while sampling PFVs for the concept banks (pass 1); nothing was written" }
}
