import Core
import Foundation
import ImageIO

/// Images in a NumPy `.npy` array: N×C×H×W or N×H×W×C (C ∈ {1, 3, 4}) or N×H×W (grey), uint8
/// (scaled by 1/255 like ToTensor) or float32 (taken as already in [0, 1]). Labels come from an
/// optional integer `.npy` of N entries. The images file is memory-mapped, images sliced on demand.
///
/// Layout: a 4-D array whose axis 1 is 1, 3 or 4 and whose last axis is not is NCHW; one whose last
/// axis is and axis 1 is not is NHWC; when both are (tiny images) NCHW is assumed.
public struct NpyImageDataset: ImageDataset {
    public let path: String
    public var formatName: String { "npy" }
    public let count: Int
    public let channels: Int
    public let height: Int
    public let width: Int
    /// True when the array is N×H×W×C.
    public let channelsLast: Bool
    public let labels: [Int]
    public let classNames: [String]
    public var imageShape: [Int]? { [channels, height, width] }
    let data: Data
    let offset: Int
    let isFloat: Bool

    public init(path: String, labelsPath: String?, limits: SizeLimits = .current) throws {
        self.path = path
        data = try AtomicFile.read(path)
        let (descr, shape, offset) = try NpyImageDataset.header(data, path: path)
        self.offset = offset
        switch descr {
        case "|u1", "<u1": isFloat = false
        case "<f4": isFloat = true
        default:
            throw DatasetError.invalidDataset("\(path): image arrays must be uint8 or float32, found dtype '\(descr)'")
        }
        let imageChannelCounts: Set<Int> = [1, 3, 4]
        switch shape.count {
        case 3:
            (count, channels, height, width, channelsLast) = (shape[0], 1, shape[1], shape[2], false)
        case 4 where imageChannelCounts.contains(shape[1]):
            (count, channels, height, width, channelsLast) = (shape[0], shape[1], shape[2], shape[3], false)
        case 4 where imageChannelCounts.contains(shape[3]):
            (count, channels, height, width, channelsLast) = (shape[0], shape[3], shape[1], shape[2], true)
        default:
            throw DatasetError.invalidDataset("\(path): shape \(shape) is not N×C×H×W, N×H×W×C or N×H×W with 1, 3 or 4 channels")
        }
        // Empty images would let a huge N pass the size check (N×0 bytes) and size the label list.
        guard channels > 0, height > 0, width > 0 else {
            throw InputError.corruptFile(path: path, reason: "shape \(shape) holds empty images")
        }
        let elements: Int
        do {
            elements = try limits.checkedElementCount(shape, what: "image array")
        } catch let error as InputError {
            throw InputError.corruptFile(path: path, reason: error.description)
        }
        let need = elements * (isFloat ? 4 : 1)
        guard data.count - offset >= need else {
            throw InputError.corruptFile(path: path, reason: "truncated .npy: shape \(shape) needs \(need) bytes of data, found \(data.count - offset)")
        }
        if let labelsPath {
            let array = try Npy.decode(AtomicFile.read(labelsPath), path: labelsPath, limits: limits)
            let values = try array.integers(path: labelsPath)
            guard values.count == count else {
                throw DatasetError.invalidDataset("\(labelsPath): has \(values.count) labels but \(path) has \(count) images")
            }
            // Labels name classes 0..<C; the class list below has max+1 entries, so bound it first.
            // (−1 marks an unlabelled image.)
            if let bad = values.firstIndex(where: { $0 < -1 || $0 >= limits.maxClasses }) {
                throw InputError.corruptFile(path: labelsPath, reason: "label \(values[bad]) of image \(bad) is outside -1..<\(limits.maxClasses) (raise the limit with GIGTRACE_MAX_CLASSES)")
            }
            labels = values
        } else {
            labels = [Int](repeating: -1, count: count)
        }
        let top = labels.max() ?? -1
        classNames = top >= 0 ? (0...top).map { "\($0)" } : []
    }

    public func image(at index: Int) throws -> DecodedImage {
        let n = channels * height * width
        let hw = height * width
        func hwc<T>(_ p: UnsafeBufferPointer<T>) -> [T] {
            let base = index * n
            if channelsLast || channels == 1 { return Array(p[base..<(base + n)]) }
            return [T](unsafeUninitializedCapacity: n) { out, done in
                for c in 0..<channels { for i in 0..<hw { out[i * channels + c] = p[base + c * hw + i] } }
                done = n
            }
        }
        let pixels: DecodedImage.Pixels = data.withUnsafeBytes { raw in
            let body = UnsafeRawBufferPointer(rebasing: raw[offset...])
            if isFloat {
                // The payload offset is a multiple of 16 (.npy aligns its header), so floats are aligned.
                return .float32(hwc(body.bindMemory(to: Float.self)))
            }
            return .uint8(hwc(body.bindMemory(to: UInt8.self)))
        }
        return DecodedImage(width: width, height: height, channels: channels, pixels: pixels)
    }

    public func identifier(at index: Int) -> String { "\(path)#\(index)" }

    /// dtype, shape and payload offset of a `.npy` file, read with `Npy`'s header helpers.
    static func header(_ data: Data, path: String) throws -> (descr: String, shape: [Int], offset: Int) {
        let prefix = [UInt8](data.prefix(12))
        func corrupt(_ reason: String) -> InputError { .corruptFile(path: path, reason: "not a valid .npy file: \(reason)") }
        guard prefix.count >= 10, Array(prefix[0..<6]) == Npy.magic else { throw corrupt("missing the \\x93NUMPY magic") }
        let major = prefix[6]
        let length: Int, start: Int
        if major == 1 {
            (length, start) = (Int(prefix[8]) | Int(prefix[9]) << 8, 10)
        } else {
            guard prefix.count >= 12 else { throw corrupt("truncated header") }
            (length, start) = ((0..<4).reduce(0) { $0 | Int(prefix[8 + $1]) << (8 * $1) }, 12)
        }
        guard start + length <= data.count,
              let text = String(bytes: data[(data.startIndex + start)..<(data.startIndex + start + length)], encoding: .utf8)
        else { throw corrupt("truncated or non-text header") }
        guard let descr = Npy.headerValue("descr", in: text)?.trimmingCharacters(in: CharacterSet(charactersIn: "'\"")),
              let shapeText = Npy.headerValue("shape", in: text)
        else { throw corrupt("header lacks 'descr' or 'shape'") }
        if Npy.headerValue("fortran_order", in: text) == "True" {
            throw DatasetError.invalidDataset("\(path): Fortran-order arrays are not supported; save with np.ascontiguousarray")
        }
        return (descr, try Npy.parseShape(shapeText, path: path), start + length)
    }
}
