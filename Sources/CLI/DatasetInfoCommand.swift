import ArgumentParser
import CommandLineSupport
import Datasets
import Foundation

/// `gigtrace dataset info`: image count, image shape, channels and per-class counts.
struct DatasetInfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Show a dataset's size, image shape, channels and classes with their image counts."
    )

    @Option(help: "Dataset: an image folder (ImageFolder layout), an IDX images file (.gz ok), a CIFAR .bin batch or folder, or an .npy array.")
    var data: String

    @Option(help: "Dataset format: \(DatasetFormat.allCases.map(\.rawValue).joined(separator: ", ")).")
    var format: DatasetFormat = .auto

    @Option(help: "Labels file for IDX or .npy images.")
    var labels: String?

    @Option(help: "Class names, one per line in label order.")
    var classNames: String?

    @Flag(help: "Print JSON instead of text.")
    var json = false

    struct Summary: Codable {
        struct ClassCount: Codable { var label: Int; var name: String; var count: Int }
        var path: String
        var format: String
        var count: Int
        /// C×H×W when all images share it; for folders the first image's (others may differ).
        var imageShape: [Int]
        var shapeIsUniform: Bool
        var channels: Int
        var classes: [ClassCount]
        var unlabelled: Int
    }

    func run() throws {
        try reportingErrors { try show() }
    }

    private func show() throws {
        let options = try DatasetOptions.parse(["--data", data, "--format", format.rawValue]
                                               + (labels.map { ["--labels", $0] } ?? [])
                                               + (classNames.map { ["--class-names", $0] } ?? []))
        let dataset = try options.openDataset()
        var shape = dataset.imageShape
        if shape == nil, dataset.count > 0 {
            let first = try dataset.image(at: 0)
            shape = [first.channels, first.height, first.width]
        }
        var counts = [Int: Int]()
        for l in dataset.labels { counts[l, default: 0] += 1 }
        let names = dataset.classNames
        let top = max(names.count, (counts.keys.max() ?? -1) + 1)
        let classes = (0..<top).map { l in
            Summary.ClassCount(label: l, name: l < names.count ? names[l] : "\(l)", count: counts[l] ?? 0)
        }
        let summary = Summary(path: dataset.path, format: dataset.formatName, count: dataset.count,
                              imageShape: shape ?? [], shapeIsUniform: dataset.imageShape != nil,
                              channels: shape?.first ?? 0, classes: classes, unlabelled: counts[-1] ?? 0)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(summary), as: UTF8.self))
            return
        }
        print("dataset:  \(summary.path) (\(summary.format))")
        print("images:   \(summary.count)")
        let shapeText = summary.imageShape.map(String.init).joined(separator: "x")
        print("shape:    \(shapeText) (C×H×W)\(summary.shapeIsUniform ? "" : ", first image; folder images may differ")")
        print("channels: \(summary.channels)")
        print("classes:  \(classes.count)")
        for c in classes { print("  \(c.label)\t\(c.name)\t\(c.count)") }
        if summary.unlabelled > 0 { print("unlabelled: \(summary.unlabelled)") }
    }
}
