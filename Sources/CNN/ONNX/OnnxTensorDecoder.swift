import Core
import Foundation

/// Decoding of ONNX `TensorProto` messages into `TensorValue`s.
///
/// Float types (float32, float64, float16, bfloat16) become Float32 tensors; integer types
/// (int8…int64, uint8…uint64, bool) become `IntTensor`s. Data may sit in `raw_data`
/// (little-endian), in the typed repeated fields, or in an external file.
extension OnnxReader.Context {
    /// ONNX `TensorProto.DataType` codes.
    enum DataType: Int {
        case float = 1, uint8 = 2, int8 = 3, uint16 = 4, int16 = 5, int32 = 6, int64 = 7, string = 8
        case bool = 9, float16 = 10, double = 11, uint32 = 12, uint64 = 13, bfloat16 = 16

        var byteWidth: Int {
            switch self {
            case .uint8, .int8, .bool: return 1
            case .uint16, .int16, .float16, .bfloat16: return 2
            case .float, .int32, .uint32: return 4
            case .int64, .double, .uint64: return 8
            case .string: return 0
            }
        }
    }

    /// A tensor's name and value.
    func decodeTensor(_ message: ProtoWireReader) throws -> (name: String, value: TensorValue) {
        var r = message
        var dims = [Int]()
        var typeCode = 0
        var name = ""
        var raw: Range<Int>?
        var floats = [Float](), doubles = [Double](), int32s = [Int](), int64s = [Int](), uint64s = [Int]()
        var external = [String: String]()
        var dataLocation = 0
        while let (field, type) = try r.nextField() {
            switch (field, type) {
            case (1, _): try r.appendInts(type, to: &dims)
            case (2, .varint): typeCode = try r.readInt()
            case (4, _): try r.appendFloats(type, to: &floats)
            case (5, _): try r.appendInts(type, to: &int32s)
            case (7, _): try r.appendInts(type, to: &int64s)
            case (8, .lengthDelimited): name = try r.readString()
            case (9, .lengthDelimited): raw = try r.readLengthDelimited()
            case (10, _): try r.appendDoubles(type, to: &doubles)
            case (11, _): try r.appendInts(type, to: &uint64s)
            case (13, .lengthDelimited):
                var entry = try r.readMessage()
                var key = "", value = ""
                while let (ef, et) = try entry.nextField() {
                    switch (ef, et) {
                    case (1, .lengthDelimited): key = try entry.readString()
                    case (2, .lengthDelimited): value = try entry.readString()
                    default: try entry.skip(et)
                    }
                }
                external[key] = value
            case (14, .varint): dataLocation = try r.readInt()
            default: try r.skip(type)
            }
        }
        let label = name.isEmpty ? "unnamed tensor" : "tensor '\(name)'"
        guard dims.allSatisfy({ $0 >= 0 }) else {
            throw InputError.corruptFile(path: path, reason: "\(label) has a negative dimension \(dims)")
        }
        guard let dataType = DataType(rawValue: typeCode), dataType != .string else {
            throw ModelError.unsupported("\(path): \(label) has unsupported element type \(typeCode)")
        }
        let count: Int
        do {
            count = try SizeLimits.current.checkedElementCount(dims, what: label)
        } catch let error as InputError {
            throw InputError.corruptFile(path: path, reason: error.description)
        }

        // Raw little-endian bytes, from the file itself or an external data file.
        var rawBytes: ArraySlice<UInt8>?
        if dataLocation == 1 {
            rawBytes = try readExternal(external, label: label, expected: count * dataType.byteWidth)
        } else if let raw {
            rawBytes = message.bytes[raw]
        }

        func mismatch(_ found: Int) -> InputError {
            .corruptFile(path: path, reason: "\(label) of shape \(dims) needs \(count) elements, found \(found)")
        }

        if let bytes = rawBytes {
            guard bytes.count == count * dataType.byteWidth else { throw mismatch(bytes.count / max(dataType.byteWidth, 1)) }
            return (name, try decodeRaw(bytes, type: dataType, dims: dims))
        }

        switch dataType {
        case .float:
            guard floats.count == count else { throw mismatch(floats.count) }
            return (name, .float(Tensor(uncheckedShape: dims, data: floats)))
        case .double:
            guard doubles.count == count else { throw mismatch(doubles.count) }
            return (name, .float(Tensor(uncheckedShape: dims, data: doubles.map { Float($0) })))
        case .float16, .bfloat16:
            guard int32s.count == count else { throw mismatch(int32s.count) }
            let convert = dataType == .float16 ? OnnxReader.Context.halfToFloat : OnnxReader.Context.bfloat16ToFloat
            return (name, .float(Tensor(uncheckedShape: dims, data: int32s.map { convert(UInt16(truncatingIfNeeded: $0)) })))
        case .int64:
            guard int64s.count == count else { throw mismatch(int64s.count) }
            return (name, .int(try IntTensor(shape: dims, data: int64s)))
        case .uint32, .uint64:
            guard uint64s.count == count else { throw mismatch(uint64s.count) }
            return (name, .int(try IntTensor(shape: dims, data: uint64s)))
        case .int32, .int16, .int8, .uint16, .uint8, .bool:
            guard int32s.count == count else { throw mismatch(int32s.count) }
            return (name, .int(try IntTensor(shape: dims, data: int32s)))
        case .string:
            throw ModelError.invalidModel("\(path): \(label) holds strings")
        }
    }

    /// Element values from little-endian raw bytes.
    func decodeRaw(_ bytes: ArraySlice<UInt8>, type: DataType, dims: [Int]) throws -> TensorValue {
        func load<T>(_: T.Type) -> [T] {
            bytes.withUnsafeBytes { buffer in
                (0..<(buffer.count / MemoryLayout<T>.size)).map {
                    buffer.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self)
                }
            }
        }
        switch type {
        case .float:
            let values = bytes.withUnsafeBytes { buffer in
                [Float](unsafeUninitializedCapacity: buffer.count / 4) { out, n in
                    _ = buffer.copyBytes(to: UnsafeMutableRawBufferPointer(out))
                    n = buffer.count / 4
                }
            }
            return .float(Tensor(uncheckedShape: dims, data: values))
        case .double: return .float(Tensor(uncheckedShape: dims, data: load(Double.self).map { Float($0) }))
        case .float16: return .float(Tensor(uncheckedShape: dims, data: load(UInt16.self).map(Self.halfToFloat)))
        case .bfloat16: return .float(Tensor(uncheckedShape: dims, data: load(UInt16.self).map(Self.bfloat16ToFloat)))
        case .int64: return .int(try IntTensor(shape: dims, data: load(Int64.self).map { Int($0) }))
        case .uint64: return .int(try IntTensor(shape: dims, data: load(UInt64.self).map { Int(truncatingIfNeeded: $0) }))
        case .int32: return .int(try IntTensor(shape: dims, data: load(Int32.self).map { Int($0) }))
        case .uint32: return .int(try IntTensor(shape: dims, data: load(UInt32.self).map { Int($0) }))
        case .int16: return .int(try IntTensor(shape: dims, data: load(Int16.self).map { Int($0) }))
        case .uint16: return .int(try IntTensor(shape: dims, data: load(UInt16.self).map { Int($0) }))
        case .int8: return .int(try IntTensor(shape: dims, data: bytes.map { Int(Int8(bitPattern: $0)) }))
        case .uint8, .bool: return .int(try IntTensor(shape: dims, data: bytes.map { Int($0) }))
        case .string: throw ModelError.unsupported("\(path): string tensors are not supported")
        }
    }

    /// The bytes an external-data entry points at (`location` relative to the model's folder,
    /// optional `offset` and `length`). Offset and length are checked against the file's size and
    /// `expected` (the tensor's byte size) before anything is read, and only that range is read.
    func readExternal(_ entry: [String: String], label: String, expected: Int) throws -> ArraySlice<UInt8> {
        guard let location = entry["location"], !location.isEmpty else {
            throw InputError.corruptFile(path: path, reason: "\(label) is stored externally but names no file")
        }
        guard !location.hasPrefix("/"), !location.split(separator: "/").contains("..") else {
            throw ModelError.invalidModel("\(path): \(label) points outside the model's folder (\(location))")
        }
        let file = URL(fileURLWithPath: externalDataFolder).appendingPathComponent(location).path
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: file, isDirectory: &isDir) else { throw InputError.fileNotFound(file) }
        guard !isDir.boolValue else {
            throw InputError.corruptFile(path: path, reason: "external data of \(label) names a folder ('\(location)'), not a file")
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? NSNumber)?.intValue ?? 0
        guard let offset = Int(entry["offset"] ?? "0"), offset >= 0, offset <= size else {
            throw InputError.corruptFile(path: file, reason: "external data for \(label) has offset \(entry["offset"] ?? "") outside the file (\(size) bytes)")
        }
        let lengthText = entry["length"]
        guard let length = lengthText.map({ Int($0) }) ?? (size - offset), length >= 0, length <= size - offset else {
            throw InputError.corruptFile(path: file, reason: "external data for \(label) (offset \(offset), length \(lengthText ?? "")) runs past the end of the file (\(size) bytes)")
        }
        guard length == expected else {
            throw InputError.corruptFile(path: file, reason: "external data for \(label) is \(length) bytes, the tensor needs \(expected)")
        }
        do {
            let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: file))
            defer { try? handle.close() }
            try handle.seek(toOffset: UInt64(offset))
            let data = try handle.read(upToCount: length) ?? Data()
            guard data.count == length else {
                throw InputError.corruptFile(path: file, reason: "external data for \(label) ends after \(data.count) of \(length) bytes")
            }
            return ArraySlice([UInt8](data))
        } catch let error as InputError {
            throw error
        } catch {
            throw InputError.corruptFile(path: file, reason: "cannot be read (\(error.localizedDescription))")
        }
    }

    /// IEEE 754 half precision to single precision, exactly (subnormals, infinities and NaN included).
    static func halfToFloat(_ h: UInt16) -> Float {
        let sign = UInt32(h >> 15) << 31
        let exponent = Int(h >> 10) & 0x1F
        let mantissa = UInt32(h & 0x3FF)
        if exponent == 0 {
            let magnitude = Float(mantissa) * Float(sign: .plus, exponent: -24, significand: 1)
            return sign == 0 ? magnitude : -magnitude
        }
        if exponent == 31 {
            return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
        }
        return Float(bitPattern: sign | UInt32(exponent - 15 + 127) << 23 | (mantissa << 13))
    }

    /// bfloat16 is the top half of a float32.
    static func bfloat16ToFloat(_ b: UInt16) -> Float { Float(bitPattern: UInt32(b) << 16) }
}
