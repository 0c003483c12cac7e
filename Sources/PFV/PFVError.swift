import Core

/// What can be wrong with a request for PFVs, receptive fields or patches, in those terms. An
/// unknown layer is `ModelError.unknownTensor`.
///
///     throw PFVError.invalidRequest("position (9, 3) is outside the 7×7 grid of layer 'b'")
public enum PFVError: UserError, Equatable {
    /// A layer, position, image or option the request cannot use; the message names the valid range.
    case invalidRequest(String)
    /// Activations, PFVs or maps whose shapes do not fit together.
    case shapeMismatch(String)

    public var description: String {
        switch self {
        case .invalidRequest(let message): return message
        case .shapeMismatch(let message): return "shape mismatch: \(message)"
        }
    }
}
