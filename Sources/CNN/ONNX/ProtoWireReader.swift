import Core

/// A reader for the protobuf wire format over a byte buffer: just enough to walk ONNX messages
/// without generated code. Each message is read by a reader bounded to its byte range; unknown
/// fields are skipped, so newer ONNX files with extra fields still load.
///
/// Errors are `ProtoWireReader.Malformed` with the byte offset; `OnnxReader` turns them into a
/// `InputError.corruptFile` that names the file.
struct ProtoWireReader {
    /// The protobuf wire types (groups, 3 and 4, are obsolete and rejected).
    enum WireType: Int {
        case varint = 0, fixed64 = 1, lengthDelimited = 2, fixed32 = 5
    }

    struct Malformed: Error {
        let offset: Int
        let reason: String
    }

    let bytes: [UInt8]
    private(set) var position: Int
    let end: Int

    init(bytes: [UInt8]) {
        self.init(bytes: bytes, range: 0..<bytes.count)
    }

    init(bytes: [UInt8], range: Range<Int>) {
        self.bytes = bytes
        self.position = range.lowerBound
        self.end = range.upperBound
    }

    var isAtEnd: Bool { position >= end }

    /// The next field's number and wire type, or nil at the end of the message.
    mutating func nextField() throws -> (number: Int, type: WireType)? {
        guard !isAtEnd else { return nil }
        let start = position
        let key = try readVarint()
        guard let type = WireType(rawValue: Int(key & 7)) else {
            throw Malformed(offset: start, reason: "unsupported wire type \(key & 7)")
        }
        let number = Int(key >> 3)
        guard number > 0 else { throw Malformed(offset: start, reason: "field number 0") }
        return (number, type)
    }

    mutating func readVarint() throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard position < end else { throw Malformed(offset: position, reason: "truncated varint") }
            let byte = bytes[position]
            position += 1
            guard shift < 64 else { throw Malformed(offset: position, reason: "varint longer than 10 bytes") }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
    }

    /// A varint read as a signed 64-bit integer (ONNX uses int64, two's complement, not zigzag).
    mutating func readInt() throws -> Int { Int(Int64(bitPattern: try readVarint())) }

    mutating func readFixed32() throws -> UInt32 {
        guard end - position >= 4 else { throw Malformed(offset: position, reason: "truncated fixed32") }
        var v: UInt32 = 0
        for i in 0..<4 { v |= UInt32(bytes[position + i]) << (8 * UInt32(i)) }
        position += 4
        return v
    }

    mutating func readFixed64() throws -> UInt64 {
        guard end - position >= 8 else { throw Malformed(offset: position, reason: "truncated fixed64") }
        var v: UInt64 = 0
        for i in 0..<8 { v |= UInt64(bytes[position + i]) << (8 * UInt64(i)) }
        position += 8
        return v
    }

    mutating func readFloat() throws -> Float { Float(bitPattern: try readFixed32()) }
    mutating func readDouble() throws -> Double { Double(bitPattern: try readFixed64()) }

    /// The byte range of a length-delimited field (string, bytes, sub-message, packed array).
    mutating func readLengthDelimited() throws -> Range<Int> {
        let start = position
        let length = try readVarint()
        guard length <= UInt64(end - position) else {
            throw Malformed(offset: start, reason: "length \(length) runs past the end of the enclosing message")
        }
        let range = position..<(position + Int(length))
        position = range.upperBound
        return range
    }

    mutating func readString() throws -> String {
        String(decoding: bytes[try readLengthDelimited()], as: UTF8.self)
    }

    /// A reader bounded to the next length-delimited field (a sub-message).
    mutating func readMessage() throws -> ProtoWireReader {
        ProtoWireReader(bytes: bytes, range: try readLengthDelimited())
    }

    mutating func skip(_ type: WireType) throws {
        switch type {
        case .varint: _ = try readVarint()
        case .fixed64: _ = try readFixed64()
        case .fixed32: _ = try readFixed32()
        case .lengthDelimited: _ = try readLengthDelimited()
        }
    }

    /// Appends a repeated varint field, packed (length-delimited) or not.
    mutating func appendInts(_ type: WireType, to out: inout [Int]) throws {
        if type == .lengthDelimited {
            var packed = ProtoWireReader(bytes: bytes, range: try readLengthDelimited())
            while !packed.isAtEnd { out.append(try packed.readInt()) }
        } else {
            out.append(try readInt())
        }
    }

    /// Appends a repeated float (fixed32) field, packed or not.
    mutating func appendFloats(_ type: WireType, to out: inout [Float]) throws {
        if type == .lengthDelimited {
            var packed = ProtoWireReader(bytes: bytes, range: try readLengthDelimited())
            while !packed.isAtEnd { out.append(try packed.readFloat()) }
        } else {
            out.append(try readFloat())
        }
    }

    /// Appends a repeated double (fixed64) field, packed or not.
    mutating func appendDoubles(_ type: WireType, to out: inout [Double]) throws {
        if type == .lengthDelimited {
            var packed = ProtoWireReader(bytes: bytes, range: try readLengthDelimited())
            while !packed.isAtEnd { out.append(try packed.readDouble()) }
        } else {
            out.append(try readDouble())
        }
    }
}
