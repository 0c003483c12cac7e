import Core
import Foundation

/// Everything needed to re-open a dataset and reproduce the exact tensors a run saw: the files,
/// the preprocessing and the selection. Codable, so a trace database can store it (as its
/// preprocessing JSON) and later commands (export of exemplar patches, resume) can re-open the
/// same images by index.
public struct DatasetSpec: Sendable, Equatable, Codable {
    /// Dataset path as given by the user (folder, IDX file, CIFAR batch or folder, .npy).
    public var data: String
    /// A `DatasetFormat` raw value, or "auto".
    public var format: String
    public var labels: String?
    public var classNames: String?
    public var resize: Int?
    /// Center crop height and width, or nil.
    public var cropHeight: Int?
    public var cropWidth: Int?
    public var channels: Int?
    public var mean: [Float]
    public var std: [Float]
    /// Class filter (names or label numbers), seeded shuffle and image limit.
    public var classes: [String]
    public var shuffleSeed: UInt64?
    public var limit: Int?

    public init(data: String, format: String = "auto", labels: String? = nil, classNames: String? = nil,
                preprocessing: Preprocessing = Preprocessing(), selection: DatasetSelection = DatasetSelection()) {
        self.data = data
        self.format = format
        self.labels = labels
        self.classNames = classNames
        self.resize = preprocessing.resize
        self.cropHeight = preprocessing.crop?.height
        self.cropWidth = preprocessing.crop?.width
        self.channels = preprocessing.channels
        self.mean = preprocessing.mean
        self.std = preprocessing.std
        self.classes = selection.classes
        self.shuffleSeed = selection.shuffleSeed
        self.limit = selection.limit
    }

    /// The preprocessing this spec describes.
    public var preprocessing: Preprocessing {
        let crop = cropHeight.flatMap { h in cropWidth.map { (height: h, width: $0) } }
        return Preprocessing(resize: resize, crop: crop, channels: channels, mean: mean, std: std)
    }

    /// The image selection this spec describes.
    public var selection: DatasetSelection {
        DatasetSelection(classes: classes, shuffleSeed: shuffleSeed, limit: limit)
    }

    /// Opens the dataset files (throws a one-line error naming the path on failure).
    public func openDataset() throws -> any ImageDataset {
        guard let format = DatasetFormat(rawValue: format) else {
            throw InputError.invalidParameter(.dataFormat, "unknown format '\(self.format)'; choose one of \(DatasetFormat.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return try format.open(path: data, labelsPath: labels, classNamesPath: classNames)
    }

    /// Dataset, preprocessing and selection together, ready to stream in batches of `batchSize`.
    public func makeLoader(batchSize: Int, skipBad: Bool = false) throws -> DatasetLoader {
        try DatasetLoader(dataset: openDataset(), preprocessing: preprocessing, selection: selection,
                          batchSize: batchSize, skipBad: skipBad)
    }

    /// JSON text (sorted keys), as stored in a trace database.
    public func jsonText() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    /// Reads a spec back from `jsonText()`'s output; `origin` names where it came from in errors.
    public static func parse(_ text: String, origin: String) throws -> DatasetSpec {
        do {
            return try JSONDecoder().decode(DatasetSpec.self, from: Data(text.utf8))
        } catch {
            throw InputError.corruptFile(path: origin, reason: "the dataset description is not valid (\(error.localizedDescription))")
        }
    }
}
