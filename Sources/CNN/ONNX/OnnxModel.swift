import Core

/// The subset of an ONNX `ModelProto` that GIGTrace reads, as plain values.
///
/// Produced by `OnnxReader` from the protobuf wire format; consumed by the graph builder, which
/// turns it into an executable `Model`. Names are ONNX's own.
public struct OnnxModel: Sendable {
    public var irVersion: Int
    /// Opset version of the default ("" or "ai.onnx") domain; 0 if the file declares none.
    public var opsetVersion: Int
    public var producerName: String
    public var producerVersion: String
    public var graph: OnnxGraph

    public init(irVersion: Int, opsetVersion: Int, producerName: String, producerVersion: String, graph: OnnxGraph) {
        self.irVersion = irVersion
        self.opsetVersion = opsetVersion
        self.producerName = producerName
        self.producerVersion = producerVersion
        self.graph = graph
    }
}

/// An ONNX `GraphProto`: nodes in file order (topologically sorted, as ONNX requires),
/// initializers by name, and the declared inputs/outputs.
public struct OnnxGraph: Sendable {
    public var name: String
    public var nodes: [OnnxNode]
    public var initializers: [String: TensorValue]
    /// Graph inputs, in order. Exporters may list initializers here too; the real inputs are
    /// those that are not initializers.
    public var inputs: [ValueInfo]
    public var outputs: [ValueInfo]
    /// Shapes the exporter recorded for intermediate tensors (may be empty).
    public var valueInfo: [ValueInfo]

    public init(name: String, nodes: [OnnxNode], initializers: [String: TensorValue],
                inputs: [ValueInfo], outputs: [ValueInfo], valueInfo: [ValueInfo]) {
        self.name = name
        self.nodes = nodes
        self.initializers = initializers
        self.inputs = inputs
        self.outputs = outputs
        self.valueInfo = valueInfo
    }
}

/// An ONNX `NodeProto`. An empty string in `inputs` marks an omitted optional input.
public struct OnnxNode: Sendable {
    public var name: String
    public var opType: String
    public var domain: String
    public var inputs: [String]
    public var outputs: [String]
    public var attributes: [String: AttributeValue]

    public init(name: String, opType: String, domain: String, inputs: [String], outputs: [String],
                attributes: [String: AttributeValue]) {
        self.name = name
        self.opType = opType
        self.domain = domain
        self.inputs = inputs
        self.outputs = outputs
        self.attributes = attributes
    }

    /// A name to show in error messages: the node's name, or its first output when unnamed.
    public var displayName: String { name.isEmpty ? (outputs.first ?? opType) : name }
}

/// An ONNX `AttributeProto` value.
public enum AttributeValue: Sendable, Equatable {
    case int(Int)
    case float(Float)
    case string(String)
    case ints([Int])
    case floats([Float])
    case strings([String])
    case tensor(TensorValue)
}

/// A tensor as stored in ONNX: float-valued (float32/float64/float16 converted to Float32) or
/// integer-valued (int64/int32/int8/uint8/bool converted to Int).
public enum TensorValue: Sendable, Equatable {
    case float(Tensor)
    case int(IntTensor)

    public var shape: [Int] {
        switch self {
        case .float(let t): return t.shape
        case .int(let t): return t.shape
        }
    }
}

/// An ONNX `ValueInfoProto`: a name with its element type and (possibly symbolic) shape.
public struct ValueInfo: Sendable, Equatable {
    /// One axis of a declared shape: a fixed extent, a symbolic name (`"batch"`), or unknown.
    public enum Dimension: Sendable, Equatable {
        case fixed(Int)
        case symbolic(String)
        case unknown
    }

    public var name: String
    /// ONNX `TensorProto.DataType` code (1 = float, 7 = int64, …); 0 when not given.
    public var elementType: Int
    /// `nil` when the shape is not recorded at all.
    public var shape: [Dimension]?

    public init(name: String, elementType: Int, shape: [Dimension]?) {
        self.name = name
        self.elementType = elementType
        self.shape = shape
    }
}
