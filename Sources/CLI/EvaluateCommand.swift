import ArgumentParser
import CommandLineSupport
import Core
import Foundation
import GIGTrace

/// `gigtrace evaluate TRACE`: concept deletion and insertion per METHOD §8 — is the graph causal?
struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Test a trace's graph causally: delete and insert concepts in GIG order vs baselines and random orders (METHOD §8).",
        discussion: """
            Reruns the trace's model on its first --images traced images, codes every traced layer with the \
            trace's concept banks, and for each layer removes (deletion) or adds back (insertion) the concepts one \
            by one in the order of the image's GIG edges, of the dataset-mean edges, of code magnitude, of \
            gradient × activation, and in --random-orders random orders. Targets: the predicted class's logit, \
            and the image's strongest concept of the next traced layer. Reports mean AUC with 95 % t-intervals, \
            the paired difference to random and the share of images where an order beats the random median. \
            The pathway ablation removes the concepts of each image's class's top pathway (as `query pathways`) \
            from every traced layer in one forward pass and reports the drop of the class logit and the share of \
            images still predicted as the class, against --random-pathways random pathways.
            """)

    @Argument(help: "Trace database (.sqlite) made by `gigtrace trace` (schema v2 or later).")
    var trace: String

    @Option(help: "Evaluate the first N traced images (by index).")
    var images: Int = 200

    @Option(name: .customLong("class"), help: "Only images predicted as this class (name or index).")
    var className: String?

    @Option(help: "Targets: all (classes and next-layer concepts) or classes.")
    var targets: EvaluationTargets = .all

    @Option(help: "Random orders per image and target (METHOD §8 asks for at least 20).")
    var randomOrders: Int = 20

    @Option(help: "Pathway ablation: remove each image's class's top pathway in every traced layer, against random pathways (METHOD §8).")
    var pathwayAblation: OnOff = .on

    @Option(help: "Random pathways per image for the pathway ablation (METHOD §8 asks for at least 20).")
    var randomPathways: Int = 20

    @Option(help: "Seed of the random orders and pathways.")
    var seed: UInt64 = 0

    @Option(help: "The model file, when it moved since tracing (must be the same file: its SHA-256 is checked).")
    var model: String?

    @Option(help: "The dataset's path, when it moved since tracing.")
    var data: String?

    @Option(help: "Write the report as JSON (schemas/evaluation.schema.json) to this file.")
    var json: String?

    @Option(help: "Write PNG plots as PREFIX-N-curves.png and PREFIX-N-classes.png (N = block).")
    var plots: String?

    @Option(help: "Total CPU threads.")
    var threads: Int = 2

    @Flag(help: "No progress on stderr.")
    var quiet = false

    enum EvaluationTargets: String, ExpressibleByArgument, CaseIterable {
        case all, classes
    }

    func validate() throws {
        guard images >= 1 else { throw ValidationError("--images must be at least 1, got \(images)") }
        guard randomOrders >= 1 else { throw ValidationError("--random-orders must be at least 1, got \(randomOrders)") }
        guard randomPathways >= 1 else { throw ValidationError("--random-pathways must be at least 1, got \(randomPathways)") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1, got \(threads)") }
    }

    func run() throws {
        try reportingErrors {
            for path in [json, plots.map { $0 + "-0-curves.png" }].compactMap({ $0 }) {
                let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
                guard FileManager.default.fileExists(atPath: folder) else {
                    throw InputError.invalidInput("cannot write \(path): folder \(folder) does not exist")
                }
            }
            var options = TraceEvaluation.Options()
            options.images = images
            options.randomOrders = randomOrders
            options.pathwayAblation = pathwayAblation == .on
            options.randomPathways = randomPathways
            options.layerTargets = targets == .all
            options.modelPath = model
            options.dataPath = data
            options.seed = seed
            options.threads = threads
            options.quiet = quiet
            if let className {
                options.classIndex = try TraceReader.open(trace).layout.classIndex(className)
            }
            let evaluation = try TraceEvaluation(trace: trace, options: options)
            var progress: ProgressReporter?
            let report = try evaluation.run { done, total in
                if progress == nil { progress = ProgressReporter(label: "evaluate", total: total, quiet: quiet) }
                let already = progress?.done ?? 0
                progress?.advance(by: done - already)
            }
            progress?.finish(quietSummary: true)
            print(report.table())
            if let json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                try AtomicFile.write(try encoder.encode(report), to: json)
            }
            if let plots {
                let files = try EvaluationPlots.write(report, stem: plots)
                if !quiet { FileHandle.standardError.write(Data("plots: \(files.joined(separator: ", "))\n".utf8)) }
            }
        }
    }
}
