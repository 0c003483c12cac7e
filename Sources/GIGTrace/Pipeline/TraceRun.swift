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

    /// Loads the model and dataset and checks the configuration; nothing is written.
    public init(_ configuration: TraceConfiguration) throws {
        let c = configuration
        guard c.shardCount >= 1, (0..<c.shardCount).contains(c.shardIndex) else {
            throw CNNError.invalidInput("--shard must be I/N with 0 ≤ I < N, got \(c.shardIndex)/\(c.shardCount)")
        }
        guard c.conceptImages >= 1 else { throw CNNError.invalidInput("--concept-images must be at least 1, got \(c.conceptImages)") }
        guard c.checkpointImages >= 1 else { throw CNNError.invalidInput("checkpoint interval must be at least 1 image") }
        guard c.threads >= 1 else { throw CNNError.invalidInput("--threads must be at least 1, got \(c.threads)") }
        guard c.exemplarMass > 0 && c.exemplarMass <= 1 else {
            throw CNNError.invalidInput("exemplar patch mass must be in (0, 1], got \(c.exemplarMass)")
        }
        _ = try Quadrature(method: c.quadrature, steps: c.steps)
        let model = try Model.load(path: c.modelPath, threads: c.threads)
        let names = c.layers.isEmpty ? model.suggestedTraceLayers : c.layers
        guard !names.isEmpty else {
            throw CNNError.invalidInput("the model suggests no trace layers; name them with --layers (see `gigtrace inspect`)")
        }
        if let repeated = names.first(where: { n in names.filter { $0 == n }.count > 1 }) {
            throw CNNError.invalidInput("--layers: '\(repeated)' is listed twice")
        }
        layers = try names.map { try LayerGeometry(model: model, layer: $0) }
        if c.method != .identity {
            guard c.conceptsPerLayer.count == 1 || c.conceptsPerLayer.count == names.count else {
                throw CNNError.invalidInput("--k-per-layer has \(c.conceptsPerLayer.count) values for \(names.count) traced layers")
            }
            if let bad = c.conceptsPerLayer.first(where: { $0 < 1 }) {
                throw CNNError.invalidInput("the number of concepts K must be at least 1, got \(bad)")
            }
        }
        guard c.conceptBankPaths.isEmpty || c.conceptBankPaths.count == names.count
                || (c.conceptBankPaths.count == 1 && TraceRun.isTraceDatabase(c.conceptBankPaths[0])) else {
            throw CNNError.invalidInput("--concept-bank: \(c.conceptBankPaths.count) files for \(names.count) traced layers "
                + "(one bank file per layer in order, or one trace database)")
        }
        let out = model.outputNames.first ?? ""
        guard let logits = model.tensorShapes[out], logits.count == 1 else {
            throw CNNError.invalidInput("the model's output '\(out)' is not a vector of class logits")
        }
        loader = try c.dataset.makeLoader(batchSize: c.batchSize, skipBad: c.skipBad)
        classNames = try TraceRun.classNames(c, count: logits[0], dataset: loader.dataset)
        let all = loader.indices
        shardIndices = Array(all[(c.shardIndex * all.count / c.shardCount)..<((c.shardIndex + 1) * all.count / c.shardCount)])
        self.model = model
        self.configuration = c
        // Fail early on a layer order that does not run forward (BatchTracer checks it again).
        for (a, b) in zip(names, names.dropFirst()) {
            do { _ = try model.subnetwork(from: a, to: b) } catch {
                throw CNNError.invalidInput("traced layers must run forward, each computed from the one before alone: "
                    + "'\(b)' cannot be computed from '\(a)' (\(error))")
            }
        }
    }

    /// Runs both passes. `shouldStop(images traced by this run)` is asked after every batch; when it
    /// says yes the run checkpoints and returns unfinished (rerunning resumes).
    public func run(shouldStop: (Int) -> Bool = { _ in false }) throws -> TraceOutcome {
        let c = configuration
        let partial = TraceWriter.partialPath(for: c.output)
        let fm = FileManager.default
        let started = Date()
        var warnings = layers.compactMap { g -> String? in
            guard let tracer = try? ReceptiveFieldTracer(model: model, layer: g.name), !tracer.srdUnsupportedNodes.isEmpty else { return nil }
            return "exemplar boxes of \(g.name) use the gradient ERF: SRD does not cover \(tracer.srdUnsupportedNodes.joined(separator: ", "))"
        }
        if model.hasTreeEnsembles {
            // Contribution sampling weighs PFVs by gradient × activation, and no gradient passes a tree.
            guard !c.conceptBankPaths.isEmpty || fm.fileExists(atPath: partial) else {
                throw CNNError.invalidInput("the model has tree-ensemble nodes, through which gradients are zero, so concepts cannot be learned by contribution sampling: pass --concept-bank (banks learned on the network without its tree head, or a trace database of it)")
            }
            warnings.append("the model has tree-ensemble nodes: concept → class edges are computed with Generalized IG (Merrill et al.; docs/METHOD.md §9), the head's jumps credited at their crossing points")
        }
        let writer: TraceWriter
        let banks: [ConceptBank]
        if fm.fileExists(atPath: partial) && !c.force {
            let stored = try TraceWriter.storedHeader(at: c.output)
            banks = c.conceptBankPaths.isEmpty ? try stored.banks.map { try TraceRun.bank($0, seed: c.seed) } : try loadBanks()
            let differences = TraceMerger.differences(stored, try header(banks))
            guard differences.isEmpty else {
                throw CNNError.invalidInput("cannot resume \(partial): \(differences.joined(separator: "; ")); "
                    + "rerun with the settings it was started with, or pass --force to start over")
            }
            writer = try TraceWriter.resume(at: c.output)
        } else {
            if fm.fileExists(atPath: c.output) && !c.force {
                throw CNNError.invalidInput("\(c.output) already exists (pass --force to overwrite it)")
            }
            try TraceWriter.checkFolder(of: c.output)
            banks = c.conceptBankPaths.isEmpty ? try learnBanks() : try loadBanks()
            writer = try TraceWriter.create(at: c.output, header: try header(banks), force: c.force)
        }

        let tracer = try BatchTracer(model: model, layers: layers, banks: banks,
                                     quadrature: try Quadrature(method: c.quadrature, steps: c.steps),
                                     exemplarMass: c.exemplarMass, codingThreads: c.threads, mode: c.gigMode)
        let done = writer.completedImages
        let todo = shardIndices.filter { !done.contains($0) }
        let resumed = shardIndices.count - todo.count
        var progress = ProgressReporter(label: "trace", total: shardIndices.count, quiet: c.quiet, alreadyDone: resumed)
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
            for skipped in batch.skipped where !c.quiet { ProgressReporter.writeStderr("skipped \(skipped)\n") }
            progress.advance(by: batch.indices.count + batch.skipped.count)
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
        progress.finish(quietSummary: true)
        if stopped {
            try writer.checkpoint()
            return TraceOutcome(finished: false, path: partial, shardImages: shardIndices.count, resumedImages: resumed,
                                tracedImages: completeness.count, seconds: Date().timeIntervalSince(started),
                                completeness: completeness, warnings: warnings)
        }
        try writer.finish()
        if resumed > 0 {
            completeness = try TraceReader.open(c.output).images().map { ($0.index, $0.completenessError) }
        }
        if completeness.contains(where: { !$0.error.isFinite }) {
            warnings.append("some images have no finite completeness error (a target's Δg is zero while its GIG is not)")
        }
        return TraceOutcome(finished: true, path: c.output, shardImages: shardIndices.count, resumedImages: resumed,
                            tracedImages: completeness.count - resumed, seconds: Date().timeIntervalSince(started),
                            completeness: completeness, warnings: warnings)
    }

    /// Pass 1: samples PFVs of all traced layers over the first `conceptImages` images of the
    /// selection (one forward and backward per batch) and learns one bank per layer.
    func learnBanks() throws -> [ConceptBank] {
        let c = configuration
        let sampleLoader = loader.restricted(to: Array(loader.indices.prefix(c.conceptImages)))
        var progress = ProgressReporter(label: "trace: sampling PFVs for concepts", total: sampleLoader.indices.count, quiet: c.quiet)
        // One thread throughout pass 1: floating-point results then do not depend on --threads,
        // so shards run with different thread counts learn bit-identical banks (merge requires it).
        var singleThreaded = model
        singleThreaded.threads = 1
        let sets = try MultiLayerSampler.sample(model: singleThreaded, loader: sampleLoader, layers: layers.map(\.name),
                                                perImage: .count(c.samplesPerImage), seed: c.seed,
                                                prefetchThreads: c.prefetchThreads) { progress.advance(by: $0) }
        progress.finish(quietSummary: true)
        var options = ConceptOptions()
        options.seed = c.seed
        options.lambda = c.lambda
        options.threads = 1
        let banks = try zip(layers, sets).enumerated().map { l, pair -> ConceptBank in
            let (g, set) = pair
            guard set.count > 0 else {
                throw CNNError.invalidInput("no PFVs were sampled from '\(g.name)' in \(sampleLoader.indices.count) images (none had a positive contribution)")
            }
            let k = c.method == .identity ? g.channels : (c.conceptsPerLayer.count == 1 ? c.conceptsPerLayer[0] : c.conceptsPerLayer[l])
            return try ConceptLearner.learn(pfvs: try Matrix(set.matrix), k: k, method: c.method, options: options, layer: g.name,
                                            sample: ConceptSample(seed: c.seed, count: set.count))
        }
        if !c.quiet { ProgressReporter.writeStderr(QualityReport.table(banks.map(\.quality)) + "\n") }
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
                    throw CNNError.invalidInput("--concept-bank \(paths[0]) has no concept bank for layer '\(g.name)'; it has "
                        + stored.map(\.layer).joined(separator: ", "))
                }
                return try TraceRun.bank(record, seed: configuration.seed)
            }
        }
        return try zip(paths, layers).map { path, g in
            try ConceptBank.read(from: path, layer: g.name, channels: g.channels)
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
                    "targetMask": GIGComputation.TargetMask.masked.rawValue])
        let identity = ModelIdentity(sha256: try SHA256.hex(ofFile: c.modelPath), path: c.modelPath,
                                     inputShape: model.inputShape, classNames: classNames)
        return TraceHeader(model: identity, preprocessingJSON: try c.dataset.jsonText(), settings: settings,
                           banks: banks.map(TraceRun.record))
    }

    /// A bank as the trace database stores it.
    static func record(_ bank: ConceptBank) -> ConceptBankRecord {
        ConceptBankRecord(layer: bank.layer, method: bank.method.rawValue, conceptCount: bank.k, channels: bank.channels,
                          lambda: Double(bank.lambda), vectors: bank.concepts.data, mean: bank.mean,
                          quality: BankQuality(r2: bank.quality.r2, meanNonzeros: bank.quality.meanNonzeros,
                                               activeShare: bank.quality.activeShare))
    }

    /// A stored bank back as a `ConceptBank` that codes as the original did (default coding settings).
    static func bank(_ record: ConceptBankRecord, seed: UInt64) throws -> ConceptBank {
        guard let method = ConceptMethod(rawValue: record.method) else {
            throw CNNError.invalidInput("stored concept bank of \(record.layer) has unknown method '\(record.method)'")
        }
        let options = ConceptOptions()
        return try ConceptBank.restored(layer: record.layer, method: method,
                                        concepts: try Matrix(rows: record.conceptCount, cols: record.channels, data: record.vectors),
                                        mean: record.mean, lambda: Float(record.lambda), codingMaxSweeps: options.codingMaxSweeps,
                                        codingTolerance: options.codingTolerance, sample: ConceptSample(seed: seed, count: 0),
                                        r2: record.quality.r2, meanNonzeros: record.quality.meanNonzeros,
                                        activeShare: record.quality.activeShare)
    }

    /// Class names in logit order: given, else the dataset's class-names file, else `classes.txt`
    /// beside the model, else the dataset's own names, else "0", "1", …; given names must match the
    /// number of logits.
    static func classNames(_ c: TraceConfiguration, count: Int, dataset: any ImageDataset) throws -> [String] {
        if let given = c.classNames {
            guard given.count == count else {
                throw CNNError.invalidInput("\(given.count) class names for a model with \(count) logits")
            }
            return given
        }
        if c.dataset.classNames != nil, dataset.classNames.count == count { return dataset.classNames }   // --class-names
        let beside = URL(fileURLWithPath: c.modelPath).deletingLastPathComponent().appendingPathComponent("classes.txt").path
        if let text = try? String(contentsOfFile: beside, encoding: .utf8) {
            let names = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            if names.count == count { return names }
        }
        if dataset.classNames.count == count { return dataset.classNames }
        return (0..<count).map(String.init)
    }
}
