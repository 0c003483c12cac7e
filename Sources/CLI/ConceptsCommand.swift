import ArgumentParser
import CNN
import CommandLineSupport
import Concepts
import Core
import Foundation
import GIGTrace
import PFV

/// `gigtrace concepts`: sample contribution-weighted PFVs of one layer over a dataset, learn a
/// concept bank from them (METHOD §1, §3), write it, and print its quality report.
struct ConceptsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "concepts",
        abstract: "Learn a layer's concept bank from PFVs sampled over a dataset and print its quality (R², sparsity, dead concepts).")

    @Option(help: "The ONNX model file.")
    var model: String

    @OptionGroup var dataset: DatasetOptions

    @Option(help: "The C×H×W layer (tensor name, see `gigtrace inspect`) whose PFVs are learned.")
    var layer: String

    @Option(help: "Concept method: kmeans (bisecting k-means, the paper's), nmf or pca.")
    var method: ConceptMethod = .kmeans

    @Option(parsing: .unconditional, help: "Number of concepts K.")
    var k: Int

    @Flag(help: "Use every PFV of every image instead of sampling (small datasets).")
    var allPositions = false

    @OptionGroup var learning: ConceptLearningOptions

    @OptionGroup var execution: ExecutionOptions

    @Option(help: "Output concept bank (JSON), written atomically.")
    var out: String

    @Flag(help: "Replace the output if it exists.")
    var force = false

    @Flag(help: "Print the quality report as JSON instead of a table.")
    var json = false

    func validate() throws {
        guard k >= 1 else { throw ValidationError("--k must be at least 1, got \(k)") }
        guard method != .identity else { throw ValidationError("--method identity needs no learning; choose kmeans, nmf or pca") }
    }

    func run() throws {
        try reportingErrors {
            try OutputPaths.check(out, option: "--out", inputs: dataset.inputPaths + [("--model", model)])
            try OutputPath.check(out, force: force)
            let bank = try learn()
            try bank.write(to: out)
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
                print(String(decoding: try encoder.encode(bank.quality), as: UTF8.self))
            } else {
                print(QualityReport.table([bank.quality]))
            }
        }
    }

    /// Samples, learns and returns the bank (nothing written): the same pass 1 as `gigtrace trace`.
    func learn() throws -> ConceptBank {
        let net = try Model.load(path: model, threads: execution.threads)
        let geometry = try LayerGeometry(model: net, layer: layer)
        let loader = try dataset.makeLoader()
        var settings = ConceptBankLearning(method: method, conceptsPerLayer: [k], seed: learning.seed)
        settings.perImage = allPositions ? .all : .count(learning.samplesPerImage)
        settings.lambda = learning.lambda
        settings.threads = execution.threads
        settings.prefetchThreads = dataset.prefetchThreads
        let quiet = execution.quiet
        var sampling = ProgressReporter(label: "concepts: sampling \(layer)", total: loader.indices.count, quiet: quiet)
        var learningProgress: ProgressReporter?
        let banks = try settings.learn(model: net, loader: loader, layers: [geometry]) { event in
            switch event {
            case .sampled(let done, _):
                sampling.advance(to: done)
            case .learning(_, let done, let total):
                if learningProgress == nil {
                    sampling.finish(quietSummary: quiet)
                    learningProgress = ProgressReporter(label: "concepts: \(method.rawValue) K=\(k)", total: total,
                                                        unit: method == .kmeans ? "clusters" : "iterations", quiet: quiet)
                }
                learningProgress?.advance(to: done)
            }
        }
        if learningProgress == nil { sampling.finish(quietSummary: quiet) }
        learningProgress?.finish(quietSummary: true)
        guard let bank = banks.first else { throw InputError.invalidInput("no concept bank was learned for '\(layer)'") }
        return bank
    }
}
