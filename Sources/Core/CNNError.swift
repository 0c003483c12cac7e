/// Errors a user can cause with their input: each prints as one line saying what and where.
///
/// Every module throws these (or its own error type that prints the same way); the CLI prints
/// `description` on stderr and exits non-zero. Never trap on user input.
public enum CNNError: Error, CustomStringConvertible, Equatable {
    /// A file that should exist does not (path).
    case fileNotFound(String)
    /// A file exists but cannot be read as what it claims to be.
    case corruptFile(path: String, reason: String)
    /// An ONNX operator this engine does not implement, with the node that uses it.
    case unsupportedOp(op: String, node: String)
    /// Shapes that do not fit together; the message names both.
    case shapeMismatch(String)
    /// A tensor or layer name that does not exist, with the names that do.
    case unknownTensor(String, available: [String])
    /// Any other invalid argument or input, fully described by the message.
    case invalidInput(String)

    public var description: String {
        switch self {
        case .fileNotFound(let path):
            return "file not found: \(path)"
        case .corruptFile(let path, let reason):
            return "\(path): \(reason)"
        case .unsupportedOp(let op, let node):
            return "unsupported ONNX operator '\(op)' in node '\(node)'"
        case .shapeMismatch(let message):
            return "shape mismatch: \(message)"
        case .unknownTensor(let name, let available):
            let shown = available.prefix(40).joined(separator: ", ")
            let more = available.count > 40 ? ", … (\(available.count) in all)" : ""
            return "no tensor named '\(name)'; available: \(shown)\(more)"
        case .invalidInput(let message):
            return message
        }
    }
}
