import Core
import Foundation
import ImageIO

/// The dataset formats `--format` names; `.auto` detects from the path, extension and magic bytes.
public enum DatasetFormat: String, Sendable, CaseIterable {
    case auto, idx, cifar10, cifar100, cifar100Coarse = "cifar100-coarse", npy, folder

    /// Opens `path` as this format. `labelsPath` names an IDX or `.npy` labels file (IDX finds its
    /// sibling by itself); `classNamesPath` replaces the class names (one per line).
    public func open(path: String, labelsPath: String? = nil, classNamesPath: String? = nil) throws -> any ImageDataset {
        let format = self == .auto ? try DatasetFormat.detect(path: path) : self
        let dataset: any ImageDataset
        switch format {
        case .auto, .folder: dataset = try ImageFolderDataset(path: path)
        case .idx: dataset = try IdxDataset(path: path, labelsPath: labelsPath)
        case .cifar10: dataset = try CifarDataset(path: path, variant: .cifar10)
        case .cifar100: dataset = try CifarDataset(path: path, variant: .cifar100)
        case .cifar100Coarse: dataset = try CifarDataset(path: path, variant: .cifar100Coarse)
        case .npy: dataset = try NpyImageDataset(path: path, labelsPath: labelsPath)
        }
        guard dataset.count > 0 else { throw DatasetError.invalidDataset("\(path): dataset holds no images") }
        guard let classNamesPath else { return dataset }
        let names = try BuiltinClassNames.read(path: classNamesPath)
        let top = dataset.labels.max() ?? -1
        guard names.count > top else {
            throw DatasetError.invalidDataset("\(classNamesPath): \(names.count) class names, but \(path) has labels up to \(top)")
        }
        return RenamedDataset(base: dataset, classNames: names)
    }

    /// Folder → CIFAR batches if it holds `data_batch_*.bin`, else ImageFolder; `.npy` → npy;
    /// `.bin` → CIFAR-10 or CIFAR-100 by record size; files starting with the IDX magic
    /// (`00 00 08`, after gunzip for `.gz`) → idx.
    public static func detect(path: String) throws -> DatasetFormat {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: path, isDirectory: &isDir) else { throw InputError.fileNotFound(path) }
        if isDir.boolValue {
            let names = (try? fm.contentsOfDirectory(atPath: path)) ?? []
            if names.contains(where: { $0.hasPrefix("data_batch_") && $0.hasSuffix(".bin") }) { return .cifar10 }
            return .folder
        }
        let lower = path.lowercased()
        if lower.hasSuffix(".npy") { return .npy }
        if lower.hasSuffix(".bin") {
            let size = (try? fm.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
            if size > 0, size % 3073 == 0 { return .cifar10 }
            if size > 0, size % 3074 == 0 { return .cifar100 }
            throw InputError.corruptFile(path: path, reason: "\(size) bytes is not a whole number of CIFAR-10 (3073-byte) or CIFAR-100 (3074-byte) records")
        }
        let head = try Gzip.readPrefix(path: path, count: 4)
        if head.count >= 3, head[0] == 0, head[1] == 0, head[2] == 0x08 { return .idx }
        throw InputError.invalidParameter(.dataFormat, "\(path): cannot tell the dataset format (not a folder, .npy, CIFAR .bin or IDX file); name it")
    }
}

/// A dataset with class names from a file (`--class-names`) instead of its own.
struct RenamedDataset: ImageDataset {
    let base: any ImageDataset
    let classNames: [String]
    var path: String { base.path }
    var formatName: String { base.formatName }
    var count: Int { base.count }
    var labels: [Int] { base.labels }
    var imageShape: [Int]? { base.imageShape }
    func image(at index: Int) throws -> DecodedImage { try base.image(at: index) }
    func identifier(at index: Int) -> String { base.identifier(at: index) }
}
