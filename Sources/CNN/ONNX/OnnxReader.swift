import Core
import Foundation

/// Reads ONNX files with the project's own protobuf wire-format reader.
///
/// Covers the subset GIGTrace needs: ModelProto, GraphProto, NodeProto, AttributeProto,
/// TensorProto (raw_data or typed fields, external data files), ValueInfoProto. Every failure is
/// a one-line `InputError` naming the file.
public enum OnnxReader {
    /// Reads a model file. External tensor data (`.onnx.data` files) is resolved relative to the
    /// model's folder.
    public static func read(path: String) throws -> OnnxModel {
        let data = try AtomicFile.read(path)
        guard !data.isEmpty else { throw InputError.corruptFile(path: path, reason: "empty file, not an ONNX model") }
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        return try decodeModel([UInt8](data), path: path, externalDataFolder: folder)
    }

    /// Reads one serialized `TensorProto` (the `.pb` files of the ONNX backend tests).
    public static func readTensor(path: String) throws -> TensorValue {
        let bytes = [UInt8](try AtomicFile.read(path))
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        let context = Context(path: path, externalDataFolder: folder)
        return try context.guarded { try context.decodeTensor(ProtoWireReader(bytes: bytes)).value }
    }

    /// Decodes the bytes of a `ModelProto`; `path` appears in error messages only.
    public static func decodeModel(_ bytes: [UInt8], path: String, externalDataFolder: String) throws -> OnnxModel {
        let context = Context(path: path, externalDataFolder: externalDataFolder)
        let model = try context.guarded { try context.decodeModel(ProtoWireReader(bytes: bytes)) }
        guard (1...20).contains(model.irVersion) else {
            throw InputError.corruptFile(path: path, reason: "not an ONNX model (ir_version \(model.irVersion))")
        }
        guard !model.graph.nodes.isEmpty else {
            throw InputError.corruptFile(path: path, reason: "ONNX model has no graph nodes")
        }
        return model
    }

    /// Decoding state: where errors point, and where external data lives.
    struct Context {
        let path: String
        let externalDataFolder: String

        /// Runs `body`, turning wire-format errors into `InputError.corruptFile` for `path`.
        func guarded<T>(_ body: () throws -> T) throws -> T {
            do {
                return try body()
            } catch let e as ProtoWireReader.Malformed {
                throw InputError.corruptFile(path: path, reason: "corrupt or truncated ONNX protobuf at byte \(e.offset): \(e.reason)")
            }
        }

        func decodeModel(_ message: ProtoWireReader) throws -> OnnxModel {
            var r = message
            var ir = 0, opset = 0
            var producer = "", producerVersion = ""
            var graph: OnnxGraph?
            while let (field, type) = try r.nextField() {
                switch (field, type) {
                case (1, .varint): ir = try r.readInt()
                case (2, .lengthDelimited): producer = try r.readString()
                case (3, .lengthDelimited): producerVersion = try r.readString()
                case (7, .lengthDelimited): graph = try decodeGraph(r.readMessage())
                case (8, .lengthDelimited):
                    let (domain, version) = try decodeOpset(r.readMessage())
                    if domain.isEmpty || domain == "ai.onnx" { opset = version }
                default: try r.skip(type)
                }
            }
            guard let graph else { throw InputError.corruptFile(path: path, reason: "not an ONNX model (no graph)") }
            return OnnxModel(irVersion: ir, opsetVersion: opset, producerName: producer,
                             producerVersion: producerVersion, graph: graph)
        }

        func decodeOpset(_ message: ProtoWireReader) throws -> (String, Int) {
            var r = message
            var domain = "", version = 0
            while let (field, type) = try r.nextField() {
                switch (field, type) {
                case (1, .lengthDelimited): domain = try r.readString()
                case (2, .varint): version = try r.readInt()
                default: try r.skip(type)
                }
            }
            return (domain, version)
        }

        func decodeGraph(_ message: ProtoWireReader) throws -> OnnxGraph {
            var r = message
            var graph = OnnxGraph(name: "", nodes: [], initializers: [:], inputs: [], outputs: [], valueInfo: [])
            while let (field, type) = try r.nextField() {
                switch (field, type) {
                case (1, .lengthDelimited): graph.nodes.append(try decodeNode(r.readMessage()))
                case (2, .lengthDelimited): graph.name = try r.readString()
                case (5, .lengthDelimited):
                    let (name, value) = try decodeTensor(r.readMessage())
                    graph.initializers[name] = value
                case (11, .lengthDelimited): graph.inputs.append(try decodeValueInfo(r.readMessage()))
                case (12, .lengthDelimited): graph.outputs.append(try decodeValueInfo(r.readMessage()))
                case (13, .lengthDelimited): graph.valueInfo.append(try decodeValueInfo(r.readMessage()))
                case (15, .lengthDelimited):
                    throw ModelError.unsupported("\(path): sparse initializers are not supported")
                default: try r.skip(type)
                }
            }
            return graph
        }

        func decodeNode(_ message: ProtoWireReader) throws -> OnnxNode {
            var r = message
            var node = OnnxNode(name: "", opType: "", domain: "", inputs: [], outputs: [], attributes: [:])
            while let (field, type) = try r.nextField() {
                switch (field, type) {
                case (1, .lengthDelimited): node.inputs.append(try r.readString())
                case (2, .lengthDelimited): node.outputs.append(try r.readString())
                case (3, .lengthDelimited): node.name = try r.readString()
                case (4, .lengthDelimited): node.opType = try r.readString()
                case (7, .lengthDelimited): node.domain = try r.readString()
                case (5, .lengthDelimited):
                    if let (name, value) = try decodeAttribute(r.readMessage(), node: node) {
                        node.attributes[name] = value
                    }
                default: try r.skip(type)
                }
            }
            return node
        }

        /// One attribute, or nil for kinds no supported op uses (graphs, sparse tensors, types).
        func decodeAttribute(_ message: ProtoWireReader, node: OnnxNode) throws -> (String, AttributeValue)? {
            var r = message
            var name = "", kind = 0
            var f: Float?, i: Int?, s: String?, t: TensorValue?
            var floats = [Float](), ints = [Int](), strings = [String]()
            while let (field, type) = try r.nextField() {
                switch (field, type) {
                case (1, .lengthDelimited): name = try r.readString()
                case (20, .varint): kind = try r.readInt()
                case (2, .fixed32): f = try r.readFloat()
                case (3, .varint): i = try r.readInt()
                case (4, .lengthDelimited): s = try r.readString()
                case (5, .lengthDelimited): t = try decodeTensor(r.readMessage()).value
                case (7, _): try r.appendFloats(type, to: &floats)
                case (8, _): try r.appendInts(type, to: &ints)
                case (9, .lengthDelimited): strings.append(try r.readString())
                default: try r.skip(type)
                }
            }
            switch kind {
            case 1: return (name, .float(f ?? 0))
            case 2: return (name, .int(i ?? 0))
            case 3: return (name, .string(s ?? ""))
            case 4:
                guard let t else { throw InputError.corruptFile(path: path, reason: "attribute '\(name)' of node '\(node.displayName)' has no tensor") }
                return (name, .tensor(t))
            case 6: return (name, .floats(floats))
            case 7: return (name, .ints(ints))
            case 8: return (name, .strings(strings))
            case 0:
                // Files from before `type` existed: infer it from the field that is set.
                if let t { return (name, .tensor(t)) }
                if let f { return (name, .float(f)) }
                if let i { return (name, .int(i)) }
                if let s { return (name, .string(s)) }
                if !ints.isEmpty { return (name, .ints(ints)) }
                if !floats.isEmpty { return (name, .floats(floats)) }
                if !strings.isEmpty { return (name, .strings(strings)) }
                return nil
            default:
                return nil
            }
        }

        func decodeValueInfo(_ message: ProtoWireReader) throws -> ValueInfo {
            var r = message
            var info = ValueInfo(name: "", elementType: 0, shape: nil)
            while let (field, type) = try r.nextField() {
                switch (field, type) {
                case (1, .lengthDelimited): info.name = try r.readString()
                case (2, .lengthDelimited):
                    var typeProto = try r.readMessage()
                    while let (tf, tt) = try typeProto.nextField() {
                        guard tf == 1, tt == .lengthDelimited else { try typeProto.skip(tt); continue }
                        var tensorType = try typeProto.readMessage()
                        while let (ef, et) = try tensorType.nextField() {
                            switch (ef, et) {
                            case (1, .varint): info.elementType = try tensorType.readInt()
                            case (2, .lengthDelimited): info.shape = try decodeShape(tensorType.readMessage())
                            default: try tensorType.skip(et)
                            }
                        }
                    }
                default: try r.skip(type)
                }
            }
            return info
        }

        func decodeShape(_ message: ProtoWireReader) throws -> [ValueInfo.Dimension] {
            var r = message
            var dims = [ValueInfo.Dimension]()
            while let (field, type) = try r.nextField() {
                guard field == 1, type == .lengthDelimited else { try r.skip(type); continue }
                var d = try r.readMessage()
                var dim = ValueInfo.Dimension.unknown
                while let (df, dt) = try d.nextField() {
                    switch (df, dt) {
                    case (1, .varint): dim = .fixed(try d.readInt())
                    case (2, .lengthDelimited): dim = .symbolic(try d.readString())
                    default: try d.skip(dt)
                    }
                }
                dims.append(dim)
            }
            return dims
        }
    }
}
