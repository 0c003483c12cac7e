import ArgumentParser
import CommandLineSupport
import Core
import Datasets
import Foundation

/// `gigtrace dataset export`: the exact float32 N×C×H×W tensor the model will see, as `.npy`.
struct DatasetExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write the preprocessed images (float32 N×C×H×W) and labels (int64) as .npy files."
    )

    @OptionGroup var dataset: DatasetOptions

    @Option(help: "Output .npy for the images (written to a temporary file, then renamed).")
    var out: String

    @Option(help: "Output .npy for the labels (int64, -1 when unlabelled).")
    var labelsOut: String?

    @Flag(help: "Replace the outputs if they exist.")
    var force = false

    @Flag(help: "No progress on stderr.")
    var quiet = false

    func run() throws {
        try reportingErrors { try export() }
    }

    private func export() throws {
        try OutputPaths.check(out, option: "--out", inputs: dataset.inputPaths + [("--labels-out", labelsOut)])
        if let labelsOut { try OutputPaths.check(labelsOut, option: "--labels-out", inputs: dataset.inputPaths) }
        for path in [out, labelsOut].compactMap({ $0 }) { try OutputPath.check(path, force: force) }
        let loader = try dataset.makeLoader()
        let writer = try NpyBatchWriter(path: out)
        var labels = [Int]()
        var skipped = 0
        var progress = ProgressReporter(label: "export", total: loader.indices.count, quiet: quiet)
        let stream = loader.stream(prefetchThreads: dataset.prefetchThreads)
        while let batch = try stream.next() {
            try writer.append(batch.images)
            labels += batch.labels
            for reason in batch.skipped {
                ProgressReporter.writeStderr("skipped \(reason)\n")
            }
            skipped += batch.skipped.count
            progress.advance(by: batch.indices.count + batch.skipped.count)
        }
        let p = try dataset.preprocessing()
        let shape = try writer.finish(emptyShape: [p.channels ?? 0, p.crop?.height ?? 0, p.crop?.width ?? 0])
        if let labelsOut { try Npy.write(int64: labels, shape: [labels.count], to: labelsOut) }
        let note = skipped > 0 ? " (\(skipped) unreadable images skipped)" : ""
        progress.finish(summary: "wrote \(out): \(shape.map(String.init).joined(separator: "x")) float32\(note)", quietSummary: quiet)
    }
}
