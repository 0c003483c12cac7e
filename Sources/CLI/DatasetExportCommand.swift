import ArgumentParser
import Foundation
import GIGTrace

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

    @Flag(help: "No progress on stderr.")
    var quiet = false

    func run() throws {
        let loader = try dataset.makeLoader()
        let writer = try NpyBatchWriter(path: out)
        var labels = [Int]()
        var skipped = 0
        var progress = ProgressLine(label: "exported", total: loader.indices.count, quiet: quiet)
        let stream = loader.stream(prefetchThreads: dataset.prefetchThreads)
        var seen = 0
        while let batch = try stream.next() {
            try writer.append(batch.images)
            labels += batch.labels
            seen += batch.indices.count + batch.skipped.count
            for reason in batch.skipped {
                FileHandle.standardError.write(Data("skipped \(reason)\n".utf8))
            }
            skipped += batch.skipped.count
            progress.update(seen)
        }
        let p = try dataset.preprocessing()
        let shape = try writer.finish(emptyShape: [p.channels ?? 0, p.crop?.height ?? 0, p.crop?.width ?? 0])
        if let labelsOut { try Npy.write(int64: labels, shape: [labels.count], to: labelsOut) }
        if !quiet {
            let note = skipped > 0 ? " (\(skipped) unreadable images skipped)" : ""
            FileHandle.standardError.write(Data("wrote \(out): \(shape.map(String.init).joined(separator: "x")) float32\(note)\n".utf8))
        }
    }
}
