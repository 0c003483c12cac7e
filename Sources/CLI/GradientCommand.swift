import ArgumentParser
import Foundation
import GIGTrace

/// `gigtrace gradient`: gradient of one logit per image w.r.t. the input or any tensor.
struct GradientCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gradient",
        abstract: "Gradient of the target logit of each image w.r.t. the input (or --wrt TENSOR), written as .npy."
    )

    @Option(help: "The ONNX model file.")
    var model: String

    @Option(help: "Input images as a float32 .npy of shape [N, C, H, W].")
    var input: String

    @Option(help: "Target class index, the same for every image.")
    var target: Int?

    @Option(help: "Per-image target classes as an int64 .npy of shape [N].")
    var labels: String?

    @Option(help: "Tensor to differentiate with respect to (default: the model input).")
    var wrt: String?

    @Option(help: "Output .npy file, shape [N, ...shape(wrt)].")
    var out: String

    @Option(help: "Images per pass.")
    var batchSize: Int = 16

    @Option(help: "Total CPU threads (BLAS threads × engine threads).")
    var threads: Int = 2

    @Flag(help: "No progress output on stderr.")
    var quiet = false

    func run() throws {
        try reportingErrors {
            guard batchSize > 0, threads > 0 else { throw CNNError.invalidInput("--batch-size and --threads must be positive") }
            var m = try Model.load(path: model)
            m.threads = threads
            let x = try Npy.read(path: input).floatTensor(path: input)
            let n = x.shape.first ?? 0
            guard n > 0 else { throw CNNError.invalidInput("\(input): no images") }
            let classes: [Int]
            switch (target, labels) {
            case (let t?, nil): classes = [Int](repeating: t, count: n)
            case (nil, let path?):
                classes = try Npy.read(path: path).integers(path: path)
                guard classes.count == n else { throw CNNError.shapeMismatch("\(path): \(classes.count) labels for \(n) images") }
            default: throw CNNError.invalidInput("give exactly one of --target and --labels")
            }
            if let wrt { try m.checkTensor(wrt) }
            var parts = [Tensor]()
            var progress = ProgressReporter(label: "gradient", total: n, quiet: quiet)
            var done = 0
            while done < n {
                let r = done..<min(n, done + batchSize)
                parts.append(try m.gradient(x.slice(batch: r), classes: Array(classes[r]), wrt: wrt))
                done = r.upperBound
                progress.advance(by: r.count)
            }
            progress.finish(quietSummary: quiet)
            try Npy.write(try Tensor.concatenate(batches: parts), to: out)
        }
    }
}
