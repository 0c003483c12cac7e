import ArgumentParser
import CommandLineSupport
import Concepts
import Core
import Dispatch
import Foundation
import GIGTrace

/// `gigtrace trace`: learns concepts per traced layer and traces a dataset (or one shard of it)
/// into a concept graph database with GIG (METHOD §1–5).
struct TraceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trace",
        abstract: "Trace a dataset through a model into a concept graph (trace database, .sqlite).",
        discussion: """
            Pass 1 learns one concept bank per traced layer from the first --concept-images images; pass 2 \
            computes GIG between consecutive layers and to the classes for every image. Without --model and \
            --data it traces the built-in demo (models/fashion-resnet on the Fashion-MNIST test set). \
            Interrupted (Ctrl-C, SIGTERM), it checkpoints; rerunning the same command resumes. \
            Spread a dataset over machines with --shard I/N and join the shards with `gigtrace merge`.
            """)

    @Option(help: "The ONNX model file (default: the built-in demo model).")
    var model: String?

    @OptionGroup var dataset: DatasetOptions

    @Option(help: "Traced layers in forward order, comma-separated (default: the block outputs `gigtrace inspect` suggests).")
    var layers: CommaSeparated<String>?

    @Option(help: "Concept method (identity: every channel its own concept).")
    var concepts: ConceptMethod = .kmeans

    @Option(parsing: .unconditional, help: "Concepts per layer K (default \(TraceConfiguration.defaultConcepts)).")
    var k: Int?

    @Option(help: "Concepts per layer, one per traced layer, comma-separated (e.g. 8,16,32).")
    var kPerLayer: CommaSeparated<Int>?

    @Option(help: "Concepts per layer as a multiple M of its channels: K = M·C for each traced layer (Kim et al. use 8; more K needs more PFVs: raise --samples-per-image).")
    var kPerChannel: Int?

    @Option(help: "Concept bank files (from `gigtrace concepts`), comma-separated, one per traced layer in order, or one trace database whose banks to reuse; skips pass 1.")
    var conceptBank: CommaSeparated<String>?

    @Option(parsing: .unconditional, help: "GIG integration steps.")
    var steps: Int = TraceConfiguration.defaultSteps

    @Option(help: "Quadrature (Captum's names).")
    var quadrature: Quadrature.Method = .gaussLegendre

    @Option(help: "How GIG differentiates: auto (forward mode over the sources where they are fewer than the targets, docs/METHOD.md §4), reverse (a backward pass per target) or forward. Same edges up to rounding.")
    var gigMode: GIGComputation.Mode = .auto

    @Option(parsing: .unconditional, help: "Concepts are learned from the first N images of the selection (the same for every shard).")
    var conceptImages: Int = TraceConfiguration.defaultConceptImages

    @OptionGroup var learning: ConceptLearningOptions

    @Option(help: "Trace only shard I of N (0-based), a contiguous block of the selection; merge shards with `gigtrace merge`.")
    var shard: String?

    @Option(help: "Error node per traced layer (docs/METHOD.md §4): on integrates GIG to the real layer X with ε = X − X̃ as one more source, so the edges add up to the real model's logits; off integrates to the codes' reconstruction X̃.")
    var errorNode: OnOff = TraceConfiguration.defaultErrorNode ? .on : .off

    @Option(help: "What layer l → l+1 edges flow into (docs/METHOD.md §4): coefficient (r's Lasso code u_r on the active set fixed from the real pass, differentiated exactly; runs forward mode) or projection (⟨Y_p, v_r⟩ at r's active positions).")
    var target: ConceptTarget = TraceConfiguration.defaultConceptTarget

    @Option(help: "How PFVs are coded against the concepts (docs/METHOD.md §3): lasso (non-negative Lasso, λ shrinks the codes) or debiased (the Lasso's support refit by non-negative least squares; kmeans and nmf only).")
    var coding: ConceptBank.Coding = .lasso

    @OptionGroup var execution: ExecutionOptions

    @Option(parsing: .unconditional, help: "Checkpoint at least every N images (and every 30 s).")
    var checkpointEvery: Int = 256

    @Option(help: "Output trace database (.sqlite).")
    var out: String

    @Flag(help: "Start over even if the output or an interrupted trace of it exists.")
    var force = false

    func run() throws {
        try reportingErrors {
            let configuration = try traceConfiguration()
            try OutputPaths.check(out, option: "--out", inputs: [("--model", configuration.modelPath), ("--data", configuration.dataset.data),
                ("--labels", configuration.dataset.labels), ("--class-names", configuration.dataset.classNames)]
                + configuration.conceptBankPaths.map { ("--concept-bank", $0) })
            let run = try TraceRun(configuration)
            let stop = StopRequest()
            let sources = [SIGINT, SIGTERM].map { number -> DispatchSourceSignal in
                signal(number, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
                source.setEventHandler {
                    if stop.request(number) {
                        FileHandle.standardError.write(Data("\nstopping after the current batch… (again to quit at once)\n".utf8))
                    } else {
                        // A second signal: quit now. SQLite keeps the last committed checkpoint intact.
                        FileHandle.standardError.write(Data("\nquitting; the last checkpoint in the .partial file is kept\n".utf8))
                        _exit(128 + number)
                    }
                }
                source.resume()
                return source
            }
            defer {
                for s in sources { s.cancel() }
                signal(SIGINT, SIG_DFL)
                signal(SIGTERM, SIG_DFL)
            }
            var display = TraceProgressDisplay(quiet: execution.quiet)
            let outcome: TraceOutcome
            do {
                outcome = try run.run(shouldStop: { _ in stop.signal != nil }) { display.show($0) }
            } catch let interrupted as TraceInterrupted {
                display.finish()
                FileHandle.standardError.write(Data("\(interrupted)\n".utf8))
                throw ExitCode(128 + (stop.signal ?? SIGINT))
            }
            display.finish()
            guard outcome.finished else {
                FileHandle.standardError.write(Data(("interrupted after \(outcome.resumedImages + outcome.tracedImages) of \(outcome.shardImages) images; "
                    + "progress is saved in \(outcome.path): rerun the same command to resume\n").utf8))
                throw ExitCode(128 + (stop.signal ?? SIGINT))
            }
            if !execution.quiet { FileHandle.standardError.write(Data(Self.summary(outcome).utf8)) }
        }
    }

    /// The end-of-run summary: images, time, completeness (median, worst) and warnings.
    static func summary(_ o: TraceOutcome) -> String {
        func pct(_ x: Double) -> String { x.isFinite ? String(format: "%.2f%%", 100 * x) : "∞" }
        let rate = o.seconds > 0 ? Double(o.tracedImages) / o.seconds : 0
        var text = "trace: \(o.resumedImages + o.tracedImages) images"
            + (o.resumedImages > 0 ? " (\(o.tracedImages) in this run, \(o.resumedImages) before)" : "")
            + " in \(ProgressReporter.clock(o.seconds)) (" + String(format: "%.1f", rate) + " images/s) → \(o.path)\n"
        if let worst = o.worstImages(1).first {
            text += "completeness error: median \(pct(o.medianCompletenessError)), worst \(pct(worst.error)) (image \(worst.image))\n"
        }
        if o.medianCompletenessError >= 0.01 {
            text += "warning: median completeness error \(pct(o.medianCompletenessError)) ≥ 1%; worst images: "
                + o.worstImages(5).map { "\($0.image) (\(pct($0.error)))" }.joined(separator: ", ")
                + "; more --steps lower it\n"
        }
        if let f = o.faithfulness {
            text += "faithfulness to the real model (METHOD §8): reconstruction gap median "
                + pct(f.reconstructionGapMedian) + "\n" + f.lines().joined(separator: "\n") + "\n"
        }
        for w in o.warnings { text += "warning: \(w)\n" }
        return text
    }

    /// The flags as a `TraceConfiguration`; without --model/--data, the built-in demo.
    func traceConfiguration() throws -> TraceConfiguration {
        let demo = model == nil ? try DemoModel.locate() : nil
        guard let modelPath = model ?? demo?.model else { throw InputError.invalidInput("--model is required") }
        var spec = try dataset.spec(defaultData: demo?.data)
        if spec.mean.isEmpty && spec.std.isEmpty, let defaults = DemoModel.normalization(besideModel: modelPath) {
            (spec.mean, spec.std) = defaults
        }
        var c = TraceConfiguration(modelPath: modelPath, dataset: spec, output: out)
        c.layers = layers?.items ?? []
        c.method = concepts
        if [k != nil, kPerLayer != nil, kPerChannel != nil].filter({ $0 }).count > 1 {
            throw InputError.invalidInput("give one of --k, --k-per-layer and --k-per-channel")
        }
        c.conceptsPerChannel = kPerChannel
        if let kPerLayer {
            c.conceptsPerLayer = kPerLayer.items
        } else if let k {
            c.conceptsPerLayer = [k]
        }
        c.conceptBankPaths = conceptBank?.items ?? []
        c.steps = steps
        c.quadrature = quadrature
        c.gigMode = gigMode
        c.conceptImages = conceptImages
        c.samplesPerImage = learning.samplesPerImage
        c.lambda = learning.lambda
        c.coding = coding
        if let shard { (c.shardIndex, c.shardCount) = try Self.shard(shard) }
        c.seed = learning.seed
        c.errorNode = errorNode == .on
        c.conceptTarget = target
        c.threads = execution.threads
        c.batchSize = dataset.batchSize
        c.skipBad = dataset.skipBad
        guard dataset.prefetchThreads >= 0 else { throw InputError.invalidInput("--prefetch-threads must be ≥ 0, got \(dataset.prefetchThreads)") }
        c.prefetchThreads = dataset.prefetchThreads
        c.checkpointImages = checkpointEvery
        c.force = force
        return c
    }

    /// Parses `I/N`.
    static func shard(_ text: String) throws -> (Int, Int) {
        let parts = text.split(separator: "/").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == 2, let i = parts[0], let n = parts[1], n >= 1, i >= 0, i < n else {
            throw InputError.invalidInput("--shard: expected I/N with 0 ≤ I < N (e.g. 0/4), got '\(text)'")
        }
        return (i, n)
    }
}

/// Draws a trace run's progress on stderr: pass 1's sampling, the banks' quality table, pass 2's
/// images with rate and ETA, and skipped images.
struct TraceProgressDisplay {
    let quiet: Bool
    private var sampling: ProgressReporter?
    private var tracing: ProgressReporter?

    init(quiet: Bool) { self.quiet = quiet }

    mutating func show(_ event: TraceRun.Progress) {
        switch event {
        case .sampling(let done, let total):
            if sampling == nil { sampling = ProgressReporter(label: "trace: sampling PFVs for concepts", total: total, quiet: quiet) }
            sampling?.advance(to: done)
        case .banksLearned(let quality):
            sampling?.finish(quietSummary: true)
            if !quiet { ProgressReporter.writeStderr(QualityReport.table(quality) + "\n") }
        case .tracing(let done, let total, let resumed):
            if tracing == nil { tracing = ProgressReporter(label: "trace", total: total, quiet: quiet, alreadyDone: resumed) }
            tracing?.advance(to: done)
        case .skipped(let reason):
            if !quiet { ProgressReporter.writeStderr("skipped \(reason)\n") }
        }
    }

    func finish() {
        tracing?.finish(quietSummary: true)
    }
}
