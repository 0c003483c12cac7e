import ArgumentParser
import Core
import Datasets
import Foundation

/// The dataset and its preprocessing, shared by every command that feeds images to a model
/// (`dataset`, `trace`, `concepts`, `erf`). Mirrors a torchvision pipeline:
/// ImageFolder/MNIST/CIFAR → Resize → CenterCrop → ToTensor → Normalize, in a DataLoader.
public struct DatasetOptions: ParsableArguments {
    public init() {}

    @Option(help: "Dataset: an image folder (ImageFolder layout), an IDX images file (.gz ok), a CIFAR .bin batch or folder, or an .npy array.")
    public var data: String?

    @Option(help: "Dataset format.")
    public var format: DatasetFormat = .auto

    @Option(help: "Labels file for IDX or .npy images (IDX finds its sibling *-labels-idx1-* by itself).")
    public var labels: String?

    @Option(parsing: .unconditional, help: "Resize the shorter side to this many pixels (Pillow bilinear with antialiasing, as transforms.Resize).")
    public var resize: Int?

    @Option(help: "Center crop: N or HxW (as transforms.CenterCrop; pads with 0 if larger than the image).")
    public var crop: String?

    @Option(help: "Per-channel mean for Normalize, comma-separated (one value applies to all channels).")
    public var mean: CommaSeparated<Float>?

    @Option(help: "Per-channel std for Normalize, comma-separated (one value applies to all channels).")
    public var std: CommaSeparated<Float>?

    @Option(parsing: .unconditional, help: "Channels the model takes: 1 (Pillow's convert(\"L\")) or 3 (convert(\"RGB\")). Default: the dataset's (RGBA → 3).")
    public var channels: Int?

    @Option(parsing: .unconditional, help: "Use only the first N images (after --classes and --shuffle-seed).")
    public var limit: Int?

    @Option(help: "Only these classes, comma-separated names or label numbers.")
    public var classes: CommaSeparated<String>?

    @Option(parsing: .unconditional, help: "Shuffle the images with this seed (deterministic; without it the dataset order is kept).")
    public var shuffleSeed: UInt64?

    @Option(parsing: .unconditional, help: "Images per batch.")
    public var batchSize: Int = 64

    @Option(help: "Class names, one per line in label order (overrides folder names or built-in names).")
    public var classNames: String?

    @Flag(help: "Skip images that cannot be read or decoded (each is reported) instead of stopping.")
    public var skipBad = false

    @Option(parsing: .unconditional, help: "Background threads decoding ahead of the consumer (0 = decode inline). Keep OpenBLAS threads + these ≤ cores.")
    public var prefetchThreads: Int = 1

    /// The files these options read, for `OutputPaths.check` (nil when not given).
    public var inputPaths: [(option: String, path: String?)] {
        [("--data", data), ("--labels", labels), ("--class-names", classNames)]
    }

    /// The options besides `--data` that describe the dataset, its preprocessing and selection and
    /// were given (`--format` when not auto), in a fixed order: for a command to refuse those a
    /// mode of it would ignore.
    public var givenOptions: [String] {
        let given: [(String, Bool)] = [
            ("--labels", labels != nil), ("--resize", resize != nil), ("--crop", crop != nil), ("--mean", mean != nil),
            ("--std", std != nil), ("--channels", channels != nil), ("--limit", limit != nil), ("--classes", classes != nil),
            ("--shuffle-seed", shuffleSeed != nil), ("--class-names", classNames != nil), ("--format", format != .auto),
        ]
        return given.filter(\.1).map(\.0)
    }

    /// The dataset, preprocessing and selection the flags describe, as a storable spec.
    /// `defaultData` stands in for a missing `--data` (the built-in demo); without either it throws.
    public func spec(defaultData: String? = nil) throws -> DatasetSpec {
        guard let path = data ?? defaultData else { throw InputError.invalidInput("--data is required (the dataset to read)") }
        return DatasetSpec(data: path, format: format.rawValue, labels: labels, classNames: classNames,
                           preprocessing: try preprocessing(), selection: selection())
    }

    /// Opens the dataset named by `--data` / `--format` / `--labels` / `--class-names`.
    public func openDataset() throws -> any ImageDataset {
        try spec().openDataset()
    }

    /// The preprocessing the flags describe.
    public func preprocessing() throws -> Preprocessing {
        Preprocessing(resize: resize, crop: try crop.map(Self.parseCrop), channels: channels,
                      mean: mean?.items ?? [], std: std?.items ?? [])
    }

    /// The selection the flags describe.
    public func selection() -> DatasetSelection {
        DatasetSelection(classes: classes?.items ?? [],
                         shuffleSeed: shuffleSeed, limit: limit)
    }

    /// Dataset, preprocessing and selection together, ready to stream.
    public func makeLoader() throws -> DatasetLoader {
        guard prefetchThreads >= 0 else { throw InputError.invalidInput("--prefetch-threads must be ≥ 0, got \(prefetchThreads)") }
        return try spec().makeLoader(batchSize: batchSize, skipBad: skipBad)
    }

    public static func parseCrop(_ text: String) throws -> (height: Int, width: Int) {
        let parts = text.lowercased().split(separator: "x").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        switch parts.count {
        case 1: if let n = parts[0] { return (n, n) }
        case 2: if let h = parts[0], let w = parts[1] { return (h, w) }
        default: break
        }
        throw InputError.invalidInput("--crop: expected N or HxW, got '\(text)'")
    }
}
