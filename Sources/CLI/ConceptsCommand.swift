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
    var method: String = "kmeans"

    @Option(help: "Number of concepts K.")
    var k: Int

    @Option(help: "PFVs drawn per image, with probability ∝ their positive contribution to the predicted class.")
    var samplesPerImage: Int = 4

    @Flag(help: "Use every PFV of every image instead of sampling (small datasets).")
    var allPositions = false

    @Option(help: "Coding sparsity λ, relative to each PFV's norm (kmeans, nmf).")
    var lambda: Float = ConceptOptions.defaultLambda

    @Option(help: "Seed of PFV sampling and k-means++ seeding.")
    var seed: UInt64 = 0

    @Option(help: "Total CPU threads (OpenBLAS threads; coordinate descent uses as many).")
    var threads: Int = 2

    @Option(help: "Output concept bank (JSON), written atomically.")
    var out: String

    @Flag(help: "Print the quality report as JSON instead of a table.")
    var json = false

    @Flag(help: "No progress output on stderr.")
    var quiet = false

    func run() throws {
        try reportingErrors {
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

    /// Samples, learns and returns the bank (nothing written).
    func learn() throws -> ConceptBank {
        guard k >= 1 else { throw CNNError.invalidInput("--k must be at least 1, got \(k)") }
        guard threads >= 1 else { throw CNNError.invalidInput("--threads must be at least 1, got \(threads)") }
        guard let conceptMethod = ConceptMethod(rawValue: method), conceptMethod != .identity else {
            throw CNNError.invalidInput("--method: unknown method '\(method)'; choose kmeans, nmf or pca")
        }
        let net = try Model.load(path: model, threads: threads)
        _ = try LayerGeometry(model: net, layer: layer)
        let loader = try dataset.makeLoader()
        let perImage: SamplesPerImage = allPositions ? .all : .count(samplesPerImage)
        var progress = ProgressReporter(label: "concepts: sampling \(layer)", total: loader.indices.count, quiet: quiet)
        let sets = try MultiLayerSampler.sample(model: net, loader: loader, layers: [layer], perImage: perImage, seed: seed,
                                                prefetchThreads: dataset.prefetchThreads) { progress.advance(by: $0) }
        progress.finish(quietSummary: quiet)
        guard let pfvs = sets.first, pfvs.count > 0 else {
            throw CNNError.invalidInput("no PFVs were sampled from '\(layer)' (\(loader.indices.count) images; none had a positive contribution)")
        }
        var options = ConceptOptions()
        options.seed = seed
        options.lambda = lambda
        options.threads = threads
        let (total, unit) = conceptMethod == .kmeans ? (k, "clusters") : (options.nmfMaxIterations, "iterations")
        var learning = ProgressReporter(label: "concepts: \(method) K=\(k)", total: total, unit: unit,
                                        quiet: quiet || conceptMethod == .pca)
        let bank = try ConceptLearner.learn(pfvs: try Matrix(pfvs.matrix), k: k, method: conceptMethod, options: options,
                                            layer: layer, sample: ConceptSample(seed: seed, count: pfvs.count)) { done, _ in
            learning.advance(by: done - learning.done)
        }
        learning.finish(quietSummary: true)
        return bank
    }
}
