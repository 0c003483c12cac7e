import Foundation

/// An array read from a NumPy `.npy` file: its shape and its elements in C order.
public struct NpyArray: Sendable, Equatable {
    /// The element buffer, in the file's own type.
    public enum Values: Sendable, Equatable {
        case float32([Float])
        case float64([Double])
        case uint8([UInt8])
        case int64([Int])
    }

    public var shape: [Int]
    public var values: Values

    public init(shape: [Int], values: Values) {
        self.shape = shape
        self.values = values
    }

    /// The dtype as NumPy spells it (`float32`, `float64`, `uint8`, `int64`).
    public var dtypeName: String {
        switch values {
        case .float32: return "float32"
        case .float64: return "float64"
        case .uint8: return "uint8"
        case .int64: return "int64"
        }
    }

    /// The array as a float32 `Tensor`. Only float32 converts (no silent precision or type change);
    /// anything else throws naming `path` and the dtype found.
    public func floatTensor(path: String) throws -> Tensor {
        guard case .float32(let v) = values else {
            throw InputError.invalidInput("\(path): expected a float32 array, found \(dtypeName)")
        }
        return Tensor(uncheckedShape: shape, data: v)
    }

    /// The array as integers (int64, or uint8 widened); float arrays throw naming `path`.
    public func integers(path: String) throws -> [Int] {
        switch values {
        case .int64(let v): return v
        case .uint8(let v): return v.map(Int.init)
        default: throw InputError.invalidInput("\(path): expected an int64 array, found \(dtypeName)")
        }
    }
}

/// Reads and writes NumPy `.npy` files (format versions 1.0–3.0, little-endian, C order).
///
/// Supported dtypes: `<f4`, `<f8`, `|u1` (and `|b1` read as uint8), `<i8` (and `<i4` widened to
/// int64). Anything else — big-endian, Fortran order, object arrays — is a clear error.
public enum Npy {
    public static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // "\x93NUMPY"

    /// Reads `path`; throws `InputError.fileNotFound` / `.corruptFile` naming the file.
    public static func read(path: String) throws -> NpyArray {
        try decode(AtomicFile.read(path), path: path)
    }

    /// Decodes the bytes of an `.npy` file; `path` is only used in error messages.
    public static func decode(_ data: Data, path: String, limits: SizeLimits = .current) throws -> NpyArray {
        let bytes = [UInt8](data)
        func corrupt(_ reason: String) -> InputError { .corruptFile(path: path, reason: "not a valid .npy file: \(reason)") }
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else { throw corrupt("missing the \\x93NUMPY magic") }
        let major = bytes[6]
        let headerLength: Int
        let headerStart: Int
        switch major {
        case 1:
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        case 2, 3:
            guard bytes.count >= 12 else { throw corrupt("truncated header") }
            headerLength = (0..<4).reduce(0) { $0 | Int(bytes[8 + $1]) << (8 * $1) }
            headerStart = 12
        default:
            throw corrupt("unsupported format version \(major)")
        }
        guard headerStart + headerLength <= bytes.count,
              let header = String(bytes: bytes[headerStart..<(headerStart + headerLength)], encoding: .utf8)
        else { throw corrupt("truncated or non-text header") }

        guard let descr = headerValue("descr", in: header)?.trimmingCharacters(in: CharacterSet(charactersIn: "'\"")) else {
            throw corrupt("header has no 'descr'")
        }
        if let fortran = headerValue("fortran_order", in: header), fortran == "True" {
            throw InputError.invalidInput("\(path): Fortran-order arrays are not supported; save with np.ascontiguousarray")
        }
        guard let shapeText = headerValue("shape", in: header) else { throw corrupt("header has no 'shape'") }
        let shape = try parseShape(shapeText, path: path)
        let count: Int
        do {
            count = try limits.checkedElementCount(shape, what: "array")
        } catch let error as InputError {
            throw InputError.corruptFile(path: path, reason: error.description)
        }
        let body = headerStart + headerLength

        func payload(_ width: Int) throws -> ArraySlice<UInt8> {
            let (need, overflow) = count.multipliedReportingOverflow(by: width)
            guard !overflow else { throw corrupt("shape \(shape) is too large") }
            guard bytes.count - body >= need else {
                throw corrupt("expected \(need) bytes of data for shape \(shape), found \(bytes.count - body)")
            }
            return bytes[body..<(body + need)]
        }

        switch descr {
        case "<f4":
            let raw = try payload(4)
            return NpyArray(shape: shape, values: .float32(raw.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }))
        case "<f8":
            let raw = try payload(8)
            return NpyArray(shape: shape, values: .float64(raw.withUnsafeBytes { Array($0.bindMemory(to: Double.self)) }))
        case "|u1", "<u1", "|b1":
            return NpyArray(shape: shape, values: .uint8(Array(try payload(1))))
        case "<i8":
            let raw = try payload(8)
            return NpyArray(shape: shape, values: .int64(raw.withUnsafeBytes { $0.bindMemory(to: Int64.self).map { Int($0) } }))
        case "<i4":
            let raw = try payload(4)
            return NpyArray(shape: shape, values: .int64(raw.withUnsafeBytes { $0.bindMemory(to: Int32.self).map { Int($0) } }))
        default:
            throw InputError.invalidInput("\(path): unsupported .npy dtype '\(descr)' (use float32, float64, uint8 or int64, little-endian)")
        }
    }

    /// Writes a float32 tensor as `.npy` (version 1.0), atomically.
    public static func write(_ tensor: Tensor, to path: String) throws {
        let body = tensor.data.withUnsafeBufferPointer { Data(buffer: $0) }
        try AtomicFile.write(encode(descr: "<f4", shape: tensor.shape, body: body), to: path)
    }

    /// Writes int64 values of `shape` as `.npy` (version 1.0), atomically.
    public static func write(int64 values: [Int], shape: [Int], to path: String) throws {
        guard Tensor.elementCount(shape) == values.count else {
            throw InputError.shapeMismatch("int64 array of shape \(shape) needs \(Tensor.elementCount(shape)) values, got \(values.count)")
        }
        let wide = values.map { Int64($0) }
        let body = wide.withUnsafeBufferPointer { Data(buffer: $0) }
        try AtomicFile.write(encode(descr: "<i8", shape: shape, body: body), to: path)
    }

    /// The bytes of a version-1.0 `.npy` file: magic, header padded to 64 bytes, then `body`.
    public static func encode(descr: String, shape: [Int], body: Data) -> Data {
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shapeText), }"
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var out = Data(magic)
        out.append(contentsOf: [1, 0, UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)])
        out.append(contentsOf: Array(header.utf8))
        out.append(body)
        return out
    }

    /// The raw text after `'key':` in a header dict, up to the next top-level comma or brace.
    public static func headerValue(_ key: String, in header: String) -> String? {
        guard let keyRange = header.range(of: "'\(key)'") ?? header.range(of: "\"\(key)\"") else { return nil }
        var rest = header[keyRange.upperBound...].drop { $0 == " " }
        guard rest.first == ":" else { return nil }
        rest = rest.dropFirst().drop { $0 == " " }
        var depth = 0
        var value = ""
        for ch in rest {
            if ch == "(" { depth += 1 }
            if ch == ")" { depth -= 1 }
            if depth == 0 && (ch == "," || ch == "}") { break }
            value.append(ch)
            if depth < 0 { return nil }
        }
        return value.trimmingCharacters(in: .whitespaces)
    }

    public static func parseShape(_ text: String, path: String) throws -> [Int] {
        guard text.hasPrefix("("), text.hasSuffix(")") else {
            throw InputError.corruptFile(path: path, reason: "not a valid .npy file: bad shape \(text)")
        }
        let inner = text.dropFirst().dropLast()
        var shape = [Int]()
        for part in inner.split(separator: ",") {
            let t = part.trimmingCharacters(in: .whitespaces)
            if t.isEmpty { continue }
            guard let n = Int(t.hasSuffix("L") ? String(t.dropLast()) : t), n >= 0 else {
                throw InputError.corruptFile(path: path, reason: "not a valid .npy file: bad shape \(text)")
            }
            shape.append(n)
        }
        return shape
    }
}
