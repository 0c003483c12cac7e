import ArgumentParser
import CNN
import CommandLineSupport
import Core
import Foundation
import GIGTrace

/// `gigtrace generalized-ig` (hidden, for tests and the README until `attribute --method
/// generalized-ig` exists): Generalized IG (docs/METHOD.md §9) of one output element per sample
/// for models with tree-ensemble nodes, with the completeness of every sample.
struct GeneralizedIGCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generalized-ig",
        abstract: "Generalized IG attributions (Merrill et al.) for models with tree ensembles, written as .npy.",
        shouldDisplay: false
    )

    @OptionGroup var engine: EngineOptions

    @Option(help: "Baseline as a float32 .npy of shape [1, ...] or [N, ...] like --input (default: zeros).")
    var baseline: String?

    @Option(help: "Graph output to explain (default: the first).")
    var output: String?

    @Option(help: "Output element (class) to explain, the same for every sample (default: each sample's largest).")
    var target: Int?

    @Option(help: "Quadrature steps for the smooth part (Captum's n_steps).")
    var nSteps: Int = 32

    @Option(help: "Most split-threshold crossings one path may have.")
    var maxCrossings: Int = 100_000

    @Option(help: "Output .npy file of attributions, shape [N, ...shape(input)].")
    var out: String

    func validate() throws {
        guard nSteps >= 1 else { throw ValidationError("--n-steps must be at least 1") }
        guard maxCrossings >= 1 else { throw ValidationError("--max-crossings must be at least 1") }
    }

    func run() throws {
        try reportingErrors(execute)
    }

    func execute() throws {
        let folder = URL(fileURLWithPath: out).deletingLastPathComponent().path
        guard FileManager.default.fileExists(atPath: folder.isEmpty ? "." : folder) else {
            throw InputError.invalidInput("--out: folder \(folder) does not exist")
        }
        let model = try engine.loadModel()
        let x = try engine.loadInput(for: model)
        let n = x.shape[0]
        let base: Tensor
        if let baseline {
            base = try Npy.read(path: baseline).floatTensor(path: baseline)
            guard base.rank == x.rank, Array(base.shape.dropFirst()) == Array(x.shape.dropFirst()),
                  base.shape[0] == 1 || base.shape[0] == n else {
                throw InputError.invalidInput("\(baseline): shape \(base.shape) does not fit the input \(x.shape) (needs [1, ...] or [N, ...])")
            }
        } else {
            base = Tensor(shape: [1] + Array(x.shape.dropFirst()))
        }
        var gig = try GeneralizedIntegratedGradients(model: model, output: output, nSteps: nSteps)
        gig.maxCrossings = maxCrossings
        let outputs = try model.forward(x)
        guard let scores = outputs[gig.output] else { throw ModelError.unknownTensor(gig.output, available: model.outputNames) }
        let width = scores.count / n
        var attributions = [Float]()
        var table = TextTable(["sample", "target", "f(x)", "f(baseline)", "sum GIG", "smooth", "jumps", "crossings", "completeness"])
        var errors = [Double]()
        var progress = ProgressReporter(label: "generalized-ig", total: n, unit: "samples", quiet: engine.execution.quiet)
        for i in 0..<n {
            let row = Array(scores.data[(i * width)..<((i + 1) * width)])
            let t = target ?? (row.indices.max { row[$0] < row[$1] } ?? 0)
            let b = base.shape[0] == 1 ? base : base.slice(batch: i..<(i + 1))
            let r = try gig.attribute(x.slice(batch: i..<(i + 1)), baseline: b, target: t)
            attributions += r.attributions.map { Float($0) }
            errors.append(r.completenessError)
            table.add([String(i), String(t), fmt(r.value), fmt(r.baselineValue), fmt(r.attributions.reduce(0, +)),
                         fmt(r.smoothTotal), fmt(r.jumpTotal), String(r.crossings), String(format: "%.2e", r.completenessError)])
            progress.advance(by: 1)
        }
        progress.finish(quietSummary: true)
        try Npy.write(Tensor(uncheckedShape: [n] + Array(x.shape.dropFirst()), data: attributions), to: out)
        print(table.render(), terminator: "")
        let sorted = errors.sorted()
        print("completeness error: median \(String(format: "%.2e", sorted[sorted.count / 2])), worst \(String(format: "%.2e", sorted.last ?? 0)) over \(n) samples")
    }

    func fmt(_ v: Double) -> String { String(format: "%.6f", v) }
}
