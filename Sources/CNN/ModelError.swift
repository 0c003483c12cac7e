import Core

/// What can be wrong with a model or a call into the engine, in the engine's terms. File-level
/// problems (a missing or unreadable ONNX file) are `InputError`s.
///
///     do { _ = try model.subnetwork(from: "a", to: "b") } catch let e as ModelError { print(e) }
public enum ModelError: UserError, Equatable {
    /// An ONNX operator this engine does not implement, with the node that uses it.
    case unsupportedOp(op: String, node: String)
    /// A feature of a supported operator (an attribute value, batched tangents, …) the engine
    /// does not implement; the message names the operator.
    case unsupported(String)
    /// Shapes that do not fit together; the message names both.
    case shapeMismatch(String)
    /// A tensor or layer name that does not exist, with the names that do.
    case unknownTensor(String, available: [String])
    /// The graph itself is malformed (a missing input, a bad attribute, a tensor nothing produces).
    case invalidModel(String)
    /// A call with arguments the model cannot take (an empty input, a class out of range, a
    /// subnetwork between unrelated tensors).
    case invalidArgument(String)

    public var description: String {
        switch self {
        case .unsupportedOp(let op, let node):
            return "unsupported ONNX operator '\(op)' in node '\(node)'"
        case .shapeMismatch(let message):
            return "shape mismatch: \(message)"
        case .unknownTensor(let name, let available):
            let shown = available.prefix(40).joined(separator: ", ")
            let more = available.count > 40 ? ", … (\(available.count) in all)" : ""
            return "no tensor named '\(name)'; available: \(shown)\(more)"
        case .unsupported(let message), .invalidModel(let message), .invalidArgument(let message):
            return message
        }
    }
}
