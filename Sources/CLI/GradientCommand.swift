import ArgumentParser
import CommandLineSupport
import Core
import Foundation
import GIGTrace

/// `gigtrace gradient`: gradient of one logit per image w.r.t. the input or any tensor.
struct GradientCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gradient",
        abstract: "Gradient of the target logit of each image w.r.t. the input (or --wrt TENSOR), written as .npy."
    )

    @OptionGroup var engine: EngineOptions

    @Option(parsing: .unconditional, help: "Target class index, the same for every image.")
    var target: Int?

    @Option(help: "Per-image target classes as an int64 .npy of shape [N].")
    var labels: String?

    @Option(help: "Tensor to differentiate with respect to (default: the model input).")
    var wrt: String?

    @Option(help: "Output .npy file, shape [N, ...shape(wrt)].")
    var out: String

    @Flag(help: "Replace the output if it exists.")
    var force = false

    func run() throws {
        try reportingErrors(execute)
    }

    /// The command's work; errors are one-line `UserError`s.
    func execute() throws {
        try OutputPath.check(out, force: force)
        try OutputPaths.check(out, option: "--out", inputs: [("--model", engine.model), ("--input", engine.input), ("--labels", labels)])
        let m = try engine.loadModel()
        if let wrt { try m.checkTensor(wrt) }
        let x = try engine.loadInput(for: m)
        let n = x.shape[0]
        let classes: [Int]
        switch (target, labels) {
        case (let t?, nil): classes = [Int](repeating: t, count: n)
        case (nil, let path?):
            classes = try Npy.read(path: path).integers(path: path)
            guard classes.count == n else { throw InputError.shapeMismatch("\(path): \(classes.count) labels for \(n) images") }
        default: throw InputError.invalidInput("give exactly one of --target and --labels")
        }
        var parts = [Tensor]()
        try engine.batches(n, label: "gradient") { r in
            parts.append(try m.gradient(x.slice(batch: r), classes: Array(classes[r]), wrt: wrt))
        }
        try Npy.write(try Tensor.concatenate(batches: parts), to: out)
    }
}
