import ArgumentParser
import CommandLineSupport
import Concepts
import Core
import Foundation

/// Hidden benchmark of concept learning on a raw float32 PFV file (tools/bench_concepts.py runs it
/// beside scikit-learn). Prints one JSON object per method on stdout. Threads: set OPENBLAS_NUM_THREADS.
struct BenchConceptsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "concepts",
        abstract: "Time bisecting k-means, NMF and PCA on raw little-endian float32 PFVs (benchmark only).")

    @Option(help: "Raw little-endian float32 file holding N×C PFVs, row-major.")
    var data: String
    @Option(help: "Number of PFVs N in the file.")
    var rows: Int
    @Option(help: "Channels C per PFV.")
    var cols: Int
    @Option(help: "Number of concepts K.")
    var k: Int = 256
    @Option(help: "Methods to time, comma-separated: kmeans, nmf, pca.")
    var methods = CommaSeparated<ConceptMethod>([.kmeans, .nmf, .pca])
    @Option(help: "k-means: 2-means runs per bisection (scikit-learn n_init).")
    var restarts: Int = 1
    @Option(help: "NMF: HALS iteration cap (scikit-learn max_iter).")
    var nmfMaxIter: Int = 200
    @Option(help: "Stopping tolerance of k-means and NMF (scikit-learn tol).")
    var tol: Double = 1e-4
    @Option(help: "Our own worker threads for coordinate descent (OpenBLAS threads are set by OPENBLAS_NUM_THREADS).")
    var threads: Int = 2
    @Option(help: "Seed of k-means++ seeding.")
    var seed: UInt64 = 0
    @Option(help: "NMF: also stop as soon as ‖X − UV‖_F ≤ this (time to reach a peer's objective); 0 = off.")
    var nmfTargetError: Double = 0
    @Option(help: "Write the learned concept vectors (K×C raw little-endian float32) to this path + '.<method>.f32'.")
    var componentsOut: String = ""
    @Option(help: "Comma-separated λ values: after k-means and NMF, code the PFVs at each λ and report non-zeros and R².")
    var lambdas: CommaSeparated<Float>?

    func run() throws {
        let bytes = try AtomicFile.read(data)
        guard bytes.count == rows * cols * 4 else {
            throw InputError.corruptFile(path: data, reason: "holds \(bytes.count) bytes, expected \(rows)×\(cols)×4")
        }
        var values = [Float](repeating: 0, count: rows * cols)
        _ = values.withUnsafeMutableBytes { bytes.copyBytes(to: $0) }
        let pfvs = try Matrix(rows: rows, cols: cols, data: values)
        var options = ConceptOptions()
        options.restarts = restarts
        options.nmfMaxIterations = nmfMaxIter
        options.kmeansTolerance = tol
        options.nmfTolerance = tol
        options.threads = threads
        options.seed = seed
        let lambdaValues = lambdas?.items ?? []
        for method in methods.items.map(\.rawValue) {
            let start = Date()
            var result: [String: Any] = ["method": method, "rows": rows, "cols": cols, "k": k]
            var concepts: Matrix?
            switch method {
            case "kmeans":
                let fit = try BisectingKMeans.fit(pfvs, k: k, options: options)
                result["seconds"] = Date().timeIntervalSince(start)
                result["sse"] = fit.sse
                concepts = fit.centroids
            case "nmf":
                let target = nmfTargetError > 0 ? 0.5 * nmfTargetError * nmfTargetError : nil
                let fit = try NMF.fit(pfvs, k: k, options: options, targetLoss: target)
                result["seconds"] = Date().timeIntervalSince(start)
                result["reconstruction_err"] = fit.reconstructionError
                result["iterations"] = fit.iterations
                concepts = fit.components
            case "pca":
                let fit = try PCA.fit(pfvs, k: k)
                result["seconds"] = Date().timeIntervalSince(start)
                result["explained_variance_sum"] = fit.explainedVariance.reduce(0, +)
                result["total_variance"] = fit.totalVariance
                concepts = fit.components
            default:
                throw ValidationError("unknown method '\(method)'; use kmeans, nmf, pca")
            }
            if let concepts, !componentsOut.isEmpty {
                let bytes = concepts.data.withUnsafeBytes { Data($0) }
                try AtomicFile.write(bytes, to: componentsOut + ".\(method).f32")
            }
            if let concepts, method != "pca", !lambdaValues.isEmpty {
                result["coding"] = try coding(pfvs, concepts: concepts, method: method, options: options, lambdas: lambdaValues)
            }
            let json = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
            print(String(decoding: json, as: UTF8.self))
        }
    }

    /// Codes the PFVs against the (normalised) concepts at every λ: seconds, non-zeros per PFV, R².
    private func coding(_ pfvs: Matrix, concepts: Matrix, method: String, options: ConceptOptions,
                        lambdas: [Float]) throws -> [[String: Double]] {
        var rows: [[String: Double]] = []
        for lambda in lambdas {
            var o = options
            o.lambda = lambda
            let start = Date()
            let bank = try ConceptLearner.bank(
                concepts: concepts, method: method == "nmf" ? .nmf : .kmeans, options: o, layer: "bench", pfvs: pfvs)
            rows.append(["lambda": Double(lambda), "seconds": Date().timeIntervalSince(start),
                         "mean_nonzeros": bank.quality.meanNonzeros, "r2": bank.quality.r2,
                         "dead": Double(bank.quality.deadConcepts.count)])
        }
        return rows
    }
}
