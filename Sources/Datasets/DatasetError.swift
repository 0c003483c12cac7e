import Core

/// What can be wrong with a dataset, in the dataset's terms. A missing or unreadable file is an
/// `InputError`; a parameter out of range (batch size, resize, …) is `InputError.invalidParameter`.
///
///     throw DatasetError.invalidDataset("images/: no class sub-folders found")
public enum DatasetError: UserError, Equatable {
    /// The dataset's content or layout is unusable (no images, labels that do not match, …).
    case invalidDataset(String)
    /// Images that do not preprocess to one size, or a batch of the wrong shape.
    case shapeMismatch(String)
    /// A request the dataset cannot serve (a batch that does not exist).
    case invalidRequest(String)

    public var description: String {
        switch self {
        case .invalidDataset(let message), .invalidRequest(let message): return message
        case .shapeMismatch(let message): return "shape mismatch: \(message)"
        }
    }
}
