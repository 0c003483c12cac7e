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
    var layers: String?

    @Option(help: "Concept method: kmeans, nmf, pca or identity (every channel its own concept).")
    var concepts: String = "kmeans"

    @Option(help: "Concepts per layer K (default \(TraceConfiguration.defaultConcepts)).")
    var k: Int?

    @Option(help: "Concepts per layer, one per traced layer, comma-separated (e.g. 8,16,32).")
    var kPerLayer: String?

    @Option(help: "Concept bank files (from `gigtrace concepts`), comma-separated, one per traced layer in order, or one trace database whose banks to reuse; skips pass 1.")
    var conceptBank: String?

    @Option(help: "GIG integration steps.")
    var steps: Int = TraceConfiguration.defaultSteps

    @Option(help: "Quadrature (Captum's names): gausslegendre, riemann_left, riemann_right, riemann_middle, riemann_trapezoid.")
    var quadrature: String = Quadrature.Method.gaussLegendre.rawValue

    @Option(help: "How GIG differentiates: auto (forward mode over the sources where they are fewer than the targets, METHOD §4), reverse (a backward pass per target) or forward. Same edges up to rounding.")
    var gigMode: String = GIGComputation.Mode.auto.rawValue

    @Option(help: "Concepts are learned from the first N images of the selection (the same for every shard).")
    var conceptImages: Int = TraceConfiguration.defaultConceptImages

    @Option(help: "PFVs sampled per concept image, with probability ∝ positive contribution to the predicted class.")
    var samplesPerImage: Int = 4

    @Option(help: "Coding sparsity λ, relative to each PFV's norm (kmeans, nmf).")
    var lambda: Float = ConceptOptions.defaultLambda

    @Option(help: "Trace only shard I of N (0-based), a contiguous block of the selection; merge shards with `gigtrace merge`.")
    var shard: String?

    @Option(help: "Seed of PFV sampling and concept learning.")
    var seed: UInt64 = 0

    @Option(help: "Total CPU threads (OpenBLAS threads; our own loops use as many).")
    var threads: Int = 2

    @Option(help: "Checkpoint at least every N images (and every 30 s).")
    var checkpointEvery: Int = 256

    @Option(help: "Output trace database (.sqlite).")
    var out: String

    @Flag(help: "Start over even if the output or an interrupted trace of it exists.")
    var force = false

    @Flag(help: "No progress or summary on stderr.")
    var quiet = false

    func run() throws {
        try reportingErrors {
            let run = try TraceRun(try traceConfiguration())
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
            let outcome = try run.run { _ in stop.signal != nil }
            guard outcome.finished else {
                FileHandle.standardError.write(Data(("interrupted after \(outcome.resumedImages + outcome.tracedImages) of \(outcome.shardImages) images; "
                    + "progress is saved in \(outcome.path): rerun the same command to resume\n").utf8))
                throw ExitCode(128 + (stop.signal ?? SIGINT))
            }
            if !quiet { FileHandle.standardError.write(Data(Self.summary(outcome).utf8)) }
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
        for w in o.warnings { text += "warning: \(w)\n" }
        return text
    }

    /// The flags as a `TraceConfiguration`; without --model/--data, the built-in demo.
    func traceConfiguration() throws -> TraceConfiguration {
        let demo = model == nil ? try DemoModel.locate() : nil
        guard let modelPath = model ?? demo?.model else { throw CNNError.invalidInput("--model is required") }
        var spec = try dataset.spec(defaultData: demo?.data)
        if spec.mean.isEmpty && spec.std.isEmpty, let defaults = DemoModel.normalization(besideModel: modelPath) {
            (spec.mean, spec.std) = defaults
        }
        var c = TraceConfiguration(modelPath: modelPath, dataset: spec, output: out)
        c.layers = try layers.map(Self.list) ?? []
        guard let method = ConceptMethod(rawValue: concepts) else {
            throw CNNError.invalidInput("--concepts: unknown method '\(concepts)'; choose kmeans, nmf, pca or identity")
        }
        c.method = method
        if k != nil && kPerLayer != nil { throw CNNError.invalidInput("give either --k or --k-per-layer, not both") }
        if let kPerLayer {
            c.conceptsPerLayer = try Self.list(kPerLayer).map {
                guard let v = Int($0) else { throw CNNError.invalidInput("--k-per-layer: '\($0)' is not a whole number") }
                return v
            }
        } else if let k {
            c.conceptsPerLayer = [k]
        }
        c.conceptBankPaths = try conceptBank.map(Self.list) ?? []
        c.steps = steps
        guard let rule = Quadrature.Method(rawValue: quadrature) else {
            throw CNNError.invalidInput("--quadrature: unknown rule '\(quadrature)'; choose "
                + Quadrature.Method.allCases.map(\.rawValue).joined(separator: ", "))
        }
        c.quadrature = rule
        guard let mode = GIGComputation.Mode(rawValue: gigMode) else {
            throw CNNError.invalidInput("--gig-mode: unknown mode '\(gigMode)'; choose "
                + GIGComputation.Mode.allCases.map(\.rawValue).joined(separator: ", "))
        }
        c.gigMode = mode
        c.conceptImages = conceptImages
        guard samplesPerImage >= 1 else { throw CNNError.invalidInput("--samples-per-image must be at least 1, got \(samplesPerImage)") }
        c.samplesPerImage = samplesPerImage
        c.lambda = lambda
        if let shard { (c.shardIndex, c.shardCount) = try Self.shard(shard) }
        c.seed = seed
        c.threads = threads
        c.batchSize = dataset.batchSize
        c.skipBad = dataset.skipBad
        guard dataset.prefetchThreads >= 0 else { throw CNNError.invalidInput("--prefetch-threads must be ≥ 0, got \(dataset.prefetchThreads)") }
        c.prefetchThreads = dataset.prefetchThreads
        c.checkpointImages = checkpointEvery
        c.force = force
        c.quiet = quiet
        return c
    }

    /// Comma-separated items, trimmed, empty ones dropped; throws when nothing is left.
    static func list(_ text: String) throws -> [String] {
        let items = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !items.isEmpty else { throw CNNError.invalidInput("empty list '\(text)'") }
        return items
    }

    /// Parses `I/N`.
    static func shard(_ text: String) throws -> (Int, Int) {
        let parts = text.split(separator: "/").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == 2, let i = parts[0], let n = parts[1], n >= 1, i >= 0, i < n else {
            throw CNNError.invalidInput("--shard: expected I/N with 0 ≤ I < N (e.g. 0/4), got '\(text)'")
        }
        return (i, n)
    }
}
