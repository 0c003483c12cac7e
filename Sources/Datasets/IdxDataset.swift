import Core
import Foundation
import ImageIO

/// MNIST-family datasets in IDX format (MNIST, Fashion-MNIST, KMNIST): an `idx3-ubyte` images file
/// (N×H×W uint8) and the matching `idx1-ubyte` labels file, each plain or gzip-compressed.
///
/// Plain files are memory-mapped; `.gz` files are decompressed into memory once (these datasets
/// are at most tens of megabytes).
public struct IdxDataset: ImageDataset {
    public let path: String
    public let labelsPath: String?
    public var formatName: String { "idx" }
    public let count: Int
    public let height: Int
    public let width: Int
    public let labels: [Int]
    public let classNames: [String]
    public var imageShape: [Int]? { [1, height, width] }
    let pixels: Data
    let pixelOffset: Int

    /// Opens `path` and its labels: `labelsPath`, or the sibling named with `images`→`labels`,
    /// `idx3`→`idx1` when it exists (no labels otherwise).
    public init(path: String, labelsPath: String? = nil) throws {
        self.path = path
        let data = try IdxDataset.read(path)
        let header = try IdxDataset.header(data, path: path)
        guard header.dims.count == 3 else {
            throw InputError.corruptFile(path: path, reason: "IDX images file must have 3 dimensions (N×H×W), found \(header.dims)")
        }
        count = header.dims[0]
        height = header.dims[1]
        width = header.dims[2]
        // Empty images would let a huge N pass the size check (N×0 bytes) and size the label list.
        guard height > 0, width > 0 else {
            throw InputError.corruptFile(path: path, reason: "IDX images of \(height)×\(width) pixels are empty")
        }
        let need: Int
        do {
            need = try SizeLimits.current.checkedElementCount(header.dims, what: "IDX images")
        } catch let error as InputError {
            throw InputError.corruptFile(path: path, reason: error.description)
        }
        guard data.count - header.size >= need else {
            throw InputError.corruptFile(path: path, reason: "truncated IDX file: \(count) images of \(height)×\(width) need \(need) bytes after the header, found \(data.count - header.size)")
        }
        pixels = data
        pixelOffset = header.size

        let labelFile = labelsPath ?? IdxDataset.siblingLabels(of: path)
        self.labelsPath = labelFile
        if let labelFile {
            let ldata = try IdxDataset.read(labelFile)
            let lheader = try IdxDataset.header(ldata, path: labelFile)
            guard lheader.dims.count == 1 else {
                throw InputError.corruptFile(path: labelFile, reason: "IDX labels file must have 1 dimension, found \(lheader.dims)")
            }
            guard lheader.dims[0] == count else {
                throw DatasetError.invalidDataset("\(labelFile): has \(lheader.dims[0]) labels but \(path) has \(count) images")
            }
            guard ldata.count - lheader.size >= count else {
                throw InputError.corruptFile(path: labelFile, reason: "truncated IDX file: \(count) labels need \(count) bytes, found \(ldata.count - lheader.size)")
            }
            let start = ldata.startIndex + lheader.size
            labels = ldata[start..<(start + count)].map(Int.init)
        } else {
            labels = [Int](repeating: -1, count: count)
        }
        classNames = BuiltinClassNames.forIdx(path: path)
    }

    public func image(at index: Int) throws -> DecodedImage {
        let n = height * width
        let start = pixels.startIndex + pixelOffset + index * n
        return DecodedImage(width: width, height: height, channels: 1, pixels: .uint8([UInt8](pixels[start..<(start + n)])))
    }

    public func identifier(at index: Int) -> String { "\(path)#\(index)" }

    /// The bytes of an IDX file, plain or gzip; a gzip stream is inflated only as far as its header
    /// says the data reaches (checked against `SizeLimits`), never further.
    static func read(_ path: String) throws -> Data {
        try Gzip.readMaybeCompressed(path: path, prefix: 4 + 4 * 4) { head in
            let h = try header(head, path: path)
            do {
                return h.size + (try SizeLimits.current.checkedElementCount(h.dims, what: "IDX data"))
            } catch let error as InputError {
                throw InputError.corruptFile(path: path, reason: error.description)
            }
        }
    }

    /// IDX header: magic `00 00 08 ndim` (unsigned bytes) then `ndim` big-endian UInt32 extents.
    static func header(_ data: Data, path: String) throws -> (dims: [Int], size: Int) {
        let b = [UInt8](data.prefix(4 + 4 * 4))
        guard b.count >= 4, b[0] == 0, b[1] == 0 else {
            throw InputError.corruptFile(path: path, reason: "not an IDX file (wrong magic number)")
        }
        guard b[2] == 0x08 else {
            throw InputError.corruptFile(path: path, reason: "IDX element type 0x\(String(b[2], radix: 16)) is not supported (only unsigned bytes, 0x08)")
        }
        let ndim = Int(b[3])
        guard ndim >= 1, ndim <= 4, b.count >= 4 + 4 * ndim else {
            throw InputError.corruptFile(path: path, reason: "truncated IDX header (\(ndim) dimensions)")
        }
        let dims = (0..<ndim).map { i in (0..<4).reduce(0) { $0 << 8 | Int(b[4 + 4 * i + $1]) } }
        return (dims, 4 + 4 * ndim)
    }

    static func siblingLabels(of path: String) -> String? {
        let url = URL(fileURLWithPath: path)
        let name = url.lastPathComponent
        let candidate = name.replacingOccurrences(of: "images", with: "labels").replacingOccurrences(of: "idx3", with: "idx1")
        guard candidate != name else { return nil }
        let full = url.deletingLastPathComponent().appendingPathComponent(candidate).path
        return FileManager.default.fileExists(atPath: full) ? full : nil
    }
}
