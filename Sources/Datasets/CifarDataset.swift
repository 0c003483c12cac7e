import Core
import Foundation
import ImageIO

/// CIFAR-10 / CIFAR-100 binary batches: fixed-size records of label byte(s) then a 32×32 RGB image
/// stored planar (1024 R, 1024 G, 1024 B). CIFAR-10 records have one label byte (3073 bytes);
/// CIFAR-100 records have coarse then fine label (3074 bytes). Files are memory-mapped.
public struct CifarDataset: ImageDataset {
    /// Which label a CIFAR-100 record yields.
    public enum Variant: String, Sendable, CaseIterable {
        case cifar10, cifar100, cifar100Coarse = "cifar100-coarse"
    }

    public let path: String
    public let variant: Variant
    public var formatName: String { variant.rawValue }
    public let files: [String]
    public let count: Int
    public let labels: [Int]
    public var classNames: [String] {
        switch variant {
        case .cifar10: return BuiltinClassNames.cifar10
        case .cifar100: return BuiltinClassNames.cifar100Fine
        case .cifar100Coarse: return BuiltinClassNames.cifar100Coarse
        }
    }
    public var imageShape: [Int]? { [3, 32, 32] }
    let contents: [Data]
    /// First global index of each file.
    let firstIndex: [Int]

    var recordSize: Int { variant == .cifar10 ? 3073 : 3074 }

    /// Opens a batch file, or a folder: CIFAR-10's `data_batch_1…5.bin` (the training set, as
    /// torchvision's `train=True`), else CIFAR-100's `train.bin`.
    public init(path: String, variant: Variant) throws {
        self.path = path
        self.variant = variant
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw InputError.fileNotFound(path) }
        if isDir.boolValue {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
            let batches = names.filter { $0.hasPrefix("data_batch_") && $0.hasSuffix(".bin") }.sorted()
            let chosen = variant == .cifar10 ? batches : names.filter { $0 == "train.bin" }
            guard !chosen.isEmpty else {
                throw DatasetError.invalidDataset("\(path): no CIFAR batch files (data_batch_*.bin or train.bin) in this folder")
            }
            files = chosen.map { URL(fileURLWithPath: path).appendingPathComponent($0).path }
        } else {
            files = [path]
        }
        let size = variant == .cifar10 ? 3073 : 3074
        var contents = [Data](), firstIndex = [Int](), labels = [Int]()
        for file in files {
            let data = try AtomicFile.read(file)
            guard !data.isEmpty, data.count % size == 0 else {
                throw InputError.corruptFile(path: file, reason: "\(data.count) bytes is not a whole number of \(size)-byte \(variant.rawValue) records (truncated or another CIFAR variant)")
            }
            firstIndex.append(labels.count)
            let labelOffset = variant == .cifar100 ? 1 : 0
            let maxLabel = variant == .cifar100Coarse ? 19 : (variant == .cifar10 ? 9 : 99)
            for r in 0..<(data.count / size) {
                let label = Int(data[data.startIndex + r * size + labelOffset])
                guard label <= maxLabel else {
                    throw InputError.corruptFile(path: file, reason: "record \(r) has label \(label), above \(maxLabel) (wrong CIFAR variant?)")
                }
                labels.append(label)
            }
            contents.append(data)
        }
        self.contents = contents
        self.firstIndex = firstIndex
        self.labels = labels
        count = labels.count
    }

    public func image(at index: Int) throws -> DecodedImage {
        let (file, record) = locate(index)
        let data = contents[file]
        let base = data.startIndex + record * recordSize + (variant == .cifar10 ? 1 : 2)
        var hwc = [UInt8](repeating: 0, count: 3072)
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            for c in 0..<3 {
                for i in 0..<1024 { hwc[i * 3 + c] = raw[base - data.startIndex + c * 1024 + i] }
            }
        }
        return DecodedImage(width: 32, height: 32, channels: 3, pixels: .uint8(hwc))
    }

    public func identifier(at index: Int) -> String {
        let (file, record) = locate(index)
        return "\(files[file])#\(record)"
    }

    private func locate(_ index: Int) -> (file: Int, record: Int) {
        var f = 0
        while f + 1 < firstIndex.count, firstIndex[f + 1] <= index { f += 1 }
        return (f, index - firstIndex[f])
    }
}
