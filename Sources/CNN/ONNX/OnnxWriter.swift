import Core
import Foundation

/// Writes a model whose conv/linear weights were replaced in memory (`Model.randomizing`,
/// `Model.perturbing`, METHOD §7) back to ONNX, so other tools can check it: the original file's
/// bytes are copied and only the initializers of the changed layers (weights and biases) are
/// re-encoded as `raw_data`, with the lengths of the enclosing GraphProto and ModelProto fixed.
/// Everything else (nodes, attributes, opsets, metadata) stays byte for byte.
///
///     var rng = SamplingRNG(seed: 1)
///     let m = try Model.load(path: "model.onnx", foldBatchNorm: false)
///     try OnnxWriter.write(try m.randomizing([m.parameterLayers.last!.node], rng: &rng),
///                          replacingInitializersOf: "model.onnx", to: "random.onnx")
public enum OnnxWriter {
    /// Writes `model` as `original` with every conv/linear layer's weight and bias initializers
    /// replaced by the model's values (temp file, then rename). Throws when a layer's weight is not
    /// an initializer of `original` (e.g. computed by other nodes) or BatchNormalization was folded
    /// into a conv (load with `foldBatchNorm: false`).
    public static func write(_ model: Model, replacingInitializersOf original: String, to path: String) throws {
        let onnx = try OnnxReader.read(path: original)
        let values = try parameterInitializers(of: model, onnx: onnx, file: original)
        let rewritten = try replacingInitializers(in: [UInt8](try AtomicFile.read(original)), values, file: original)
        try AtomicFile.write(Data(rewritten), to: path)
    }

    /// The initializer values of `model`'s conv and linear layers, by the ONNX initializer name
    /// their weight and bias were read from. An initializer read by several layers (tied
    /// weights) is written once; its readers must hold the same values, as `Model.randomizing`
    /// and `Model.perturbing` keep them.
    public static func parameterInitializers(of model: Model, onnx: OnnxModel, file: String) throws -> [String: [Float]] {
        var values = [String: [Float]]()
        for layer in model.parameterLayers {
            let node = model.nodes[layer.node]
            guard node.foldedBatchNorm == nil else {
                throw ModelError.invalidArgument("\(file): BatchNormalization \(node.foldedBatchNorm ?? "") is folded into \(node.name); load the model with foldBatchNorm: false to write it")
            }
            let weight: [Float], bias: [Float]?
            switch node.op {
            case .conv(let conv):
                (weight, bias) = (conv.weight.data, conv.bias)
            default:
                weight = model.constants[layer.weight]?.data ?? []
                bias = layer.bias.flatMap { model.constants[$0]?.data }
            }
            for (name, data) in [(layer.weight, weight), (layer.bias, bias)] {
                guard let name, let data else { continue }
                guard onnx.graph.initializers[name] != nil else {
                    throw ModelError.invalidArgument("\(file): input '\(name)' of \(layer.kind) '\(node.name)' is not an initializer; only initializer weights can be replaced")
                }
                if let other = values[name], other != data {
                    throw ModelError.invalidArgument("\(file): initializer '\(name)' is read by several layers that hold different values")
                }
                values[name] = data
            }
        }
        return values
    }

    /// `bytes` (a ModelProto) with the TensorProtos of graph initializers named in `values`
    /// replaced: same fields but the data, which becomes `raw_data` (little-endian float32).
    static func replacingInitializers(in bytes: [UInt8], _ values: [String: [Float]], file: String) throws -> [UInt8] {
        var replaced = Set<String>()
        do {
            let out = try rewrite(bytes, 0..<bytes.count, field: 7) { graph in      // ModelProto.graph
                try rewrite(bytes, graph, field: 5) { tensor in                     // GraphProto.initializer
                    try replacingData(bytes, tensor, values, replaced: &replaced)
                }
            }
            if let missing = Set(values.keys).subtracting(replaced).sorted().first {
                throw ModelError.invalidArgument("\(file): initializer '\(missing)' is not in the main graph")
            }
            return out
        } catch let e as ProtoWireReader.Malformed {
            throw InputError.corruptFile(path: file, reason: "byte \(e.offset): \(e.reason)")
        }
    }

    /// The message in `range` with each length-delimited field `field` replaced by `transform`
    /// of its payload (its length re-encoded); other fields copied as they are.
    static func rewrite(_ bytes: [UInt8], _ range: Range<Int>, field: Int,
                        _ transform: (Range<Int>) throws -> [UInt8]) throws -> [UInt8] {
        var reader = ProtoWireReader(bytes: bytes, range: range)
        var out = [UInt8]()
        out.reserveCapacity(range.count)
        var start = reader.position
        while let (number, type) = try reader.nextField() {
            if number == field && type == .lengthDelimited {
                let payload = try transform(try reader.readLengthDelimited())
                appendKey(number, .lengthDelimited, to: &out)
                appendVarint(UInt64(payload.count), to: &out)
                out += payload
            } else {
                try reader.skip(type)
                out += bytes[start..<reader.position]
            }
            start = reader.position
        }
        return out
    }

    /// A TensorProto: unchanged unless its name (field 8) is in `values`; then without float_data
    /// (4), raw_data (9), external_data (13) and data_location (14), plus the new raw_data.
    static func replacingData(_ bytes: [UInt8], _ range: Range<Int>, _ values: [String: [Float]],
                              replaced: inout Set<String>) throws -> [UInt8] {
        var reader = ProtoWireReader(bytes: bytes, range: range)
        var name = "", dataType = 0, dims = [Int]()
        var kept = [UInt8]()
        var start = reader.position
        while let (number, type) = try reader.nextField() {
            switch (number, type) {
            case (8, .lengthDelimited): name = try reader.readString()
            case (2, .varint): dataType = try reader.readInt()
            case (1, _): try reader.appendInts(type, to: &dims)
            default: try reader.skip(type)
            }
            if ![4, 9, 13, 14].contains(number) { kept += bytes[start..<reader.position] }
            start = reader.position
        }
        guard let data = values[name] else { return Array(bytes[range]) }
        guard dataType == 1 else {
            throw ModelError.invalidArgument("initializer '\(name)' has ONNX data type \(dataType), not float32; it cannot be replaced")
        }
        guard dims.reduce(1, *) == data.count else {
            throw ModelError.shapeMismatch("initializer '\(name)' has shape \(dims), \(data.count) new values")
        }
        replaced.insert(name)
        appendKey(9, .lengthDelimited, to: &kept)
        appendVarint(UInt64(data.count * 4), to: &kept)
        kept.reserveCapacity(kept.count + data.count * 4)
        for v in data {
            let b = v.bitPattern.littleEndian
            kept += [UInt8(b & 0xFF), UInt8((b >> 8) & 0xFF), UInt8((b >> 16) & 0xFF), UInt8(b >> 24)]
        }
        return kept
    }

    static func appendKey(_ number: Int, _ type: ProtoWireReader.WireType, to out: inout [UInt8]) {
        appendVarint(UInt64(number << 3 | type.rawValue), to: &out)
    }

    static func appendVarint(_ value: UInt64, to out: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            out.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }

    /// A file name from free text (a layer name): letters, digits, '.', '-' and '_' kept, every
    /// other character '_', no leading '.'; at most 100 characters.
    public static func fileName(_ text: String) -> String {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_")
        var name = String(text.map { allowed.contains($0) ? $0 : "_" }.prefix(100))
        while name.hasPrefix(".") { name.removeFirst() }
        return name.isEmpty ? "model" : name
    }
}
