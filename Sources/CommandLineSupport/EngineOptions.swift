import ArgumentParser
import CNN
import Core
import Foundation

/// Options shared by the commands that run a model on a batch of images (`forward`, `gradient`).
public struct EngineOptions: ParsableArguments {
    public init() {}

    @Option(help: "The ONNX model file.")
    public var model: String

    @Option(help: "Input images as a float32 .npy of shape [N, C, H, W], already normalised.")
    public var input: String

    @Option(parsing: .unconditional, help: "Images per pass.")
    public var batchSize: Int = 16

    @OptionGroup public var execution: ExecutionOptions

    /// The model, set to `threads`; throws on non-positive options or an unreadable model.
    public func loadModel() throws -> Model {
        guard batchSize > 0 else { throw InputError.invalidInput("--batch-size must be positive, got \(batchSize)") }
        var m = try Model.load(path: model)
        m.threads = execution.threads
        return m
    }

    /// The input images `[N, ...]` (N > 0), checked against the model's declared input shape.
    public func loadInput(for m: Model) throws -> Tensor {
        let x = try Npy.read(path: input).floatTensor(path: input)
        guard x.rank > 0, x.shape[0] > 0 else { throw InputError.invalidInput("\(input): no images (shape \(x.shape))") }
        do {
            try m.checkInputShape(m.inputName, x)
        } catch let e as ModelError {
            throw InputError.invalidInput("\(input): \(e)")
        }
        return x
    }

    /// Runs `body` on consecutive batches `lo..<hi` of `count` images, with progress on stderr.
    public func batches(_ count: Int, label: String, _ body: (Range<Int>) throws -> Void) rethrows {
        var progress = ProgressReporter(label: label, total: count, quiet: execution.quiet)
        var done = 0
        while done < count {
            let r = done..<min(count, done + batchSize)
            try body(r)
            done = r.upperBound
            progress.advance(by: r.count)
        }
        progress.finish(quietSummary: execution.quiet)
    }
}
