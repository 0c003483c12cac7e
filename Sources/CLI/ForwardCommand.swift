import ArgumentParser
import Foundation
import GIGTrace

/// `gigtrace forward`: run a model on a batch of images and save outputs and chosen tensors.
struct ForwardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forward",
        abstract: "Run a model on images (.npy, [N, C, H, W] float32) and write each graph output and requested tensor as DIR/<name>.npy."
    )

    @Option(help: "The ONNX model file.")
    var model: String

    @Option(help: "Input images as a float32 .npy of shape [N, C, H, W], already normalised.")
    var input: String

    @Option(help: "Comma-separated tensor names to save besides the graph outputs (see `gigtrace inspect`).")
    var tensors: String = ""

    @Option(help: "Output folder (must exist); files are named after tensors with '/' and ':' replaced by '_'.")
    var out: String

    @Option(help: "Images per forward pass.")
    var batchSize: Int = 32

    @Option(help: "Total CPU threads (BLAS threads × engine threads).")
    var threads: Int = 2

    @Flag(help: "No progress output on stderr.")
    var quiet = false

    /// File name for a tensor: `/` and `:` become `_`.
    static func fileName(_ tensor: String) -> String {
        tensor.replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: ":", with: "_") + ".npy"
    }

    func run() throws {
        try reportingErrors {
            guard batchSize > 0, threads > 0 else { throw CNNError.invalidInput("--batch-size and --threads must be positive") }
            var m = try Model.load(path: model)
            m.threads = threads
            let x = try Npy.read(path: input).floatTensor(path: input)
            let names = tensors.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            for n in names { try m.checkTensor(n) }
            let wanted = m.outputNames + names.filter { !m.outputNames.contains($0) }
            let n = x.shape.first ?? 0
            guard n > 0 else { throw CNNError.invalidInput("\(input): no images") }
            var parts = [String: [Tensor]]()
            var progress = ProgressReporter(label: "forward", total: n, quiet: quiet)
            var done = 0
            while done < n {
                let chunk = x.slice(batch: done..<min(n, done + batchSize))
                let result = try m.forward(chunk, keep: Set(names))
                for w in wanted { if let t = result[w] { parts[w, default: []].append(t) } }
                done += chunk.shape[0]
                progress.advance(by: chunk.shape[0])
            }
            progress.finish(quietSummary: quiet)
            for w in wanted {
                guard let p = parts[w] else { continue }
                try Npy.write(try Tensor.concatenate(batches: p), to: out + "/" + ForwardCommand.fileName(w))
            }
        }
    }
}
