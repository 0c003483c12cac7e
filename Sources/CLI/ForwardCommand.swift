import ArgumentParser
import CommandLineSupport
import Core
import Foundation

/// `gigtrace forward`: run a model on a batch of images and save outputs and chosen tensors.
struct ForwardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forward",
        abstract: "Run a model on images (.npy, [N, C, H, W] float32) and write each graph output and requested tensor as DIR/<name>.npy."
    )

    @OptionGroup var engine: EngineOptions

    @Option(help: "Comma-separated tensor names to save besides the graph outputs (see `gigtrace inspect`).")
    var tensors: CommaSeparated<String>?

    @Option(help: "Output folder (created if missing, checked before the model runs); files are named after tensors with '/' and ':' replaced by '_'.")
    var out: String

    /// File name for a tensor: `/` and `:` become `_`.
    static func fileName(_ tensor: String) -> String {
        tensor.replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: ":", with: "_") + ".npy"
    }

    func run() throws {
        try reportingErrors(execute)
    }

    /// The command's work; errors are one-line `UserError`s.
    func execute() throws {
        try OutputPath.prepareFolder(out)
        let m = try engine.loadModel()
        let names = tensors?.items ?? []
        for n in names { try m.checkTensor(n) }
        let x = try engine.loadInput(for: m)
        let wanted = m.outputNames + names.filter { !m.outputNames.contains($0) }
        var parts = [String: [Tensor]]()
        try engine.batches(x.shape[0], label: "forward") { r in
            let result = try m.forward(x.slice(batch: r), keep: Set(names))
            for w in wanted { if let t = result[w] { parts[w, default: []].append(t) } }
        }
        for w in wanted {
            guard let p = parts[w] else { continue }
            try Npy.write(try Tensor.concatenate(batches: p), to: out + "/" + ForwardCommand.fileName(w))
        }
    }
}
