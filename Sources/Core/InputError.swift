/// An error a user can cause with what they give (a file, a parameter, a model): `description` is
/// one line saying what is wrong and where. Every module's error type conforms; the CLI prints
/// `description` on stderr and exits non-zero. Never trap on user input.
public protocol UserError: Error, CustomStringConvertible, Sendable {}

/// File-level and argument problems shared by every module: a missing or unreadable file, an
/// output that may not be replaced, a parameter out of range, tensors whose shapes do not fit.
///
///     throw InputError.corruptFile(path: "x.npy", reason: "not a valid .npy file: truncated header")
public enum InputError: UserError, Equatable {
    /// A file that should exist does not (path).
    case fileNotFound(String)
    /// A file exists but cannot be read as what it claims to be.
    case corruptFile(path: String, reason: String)
    /// An output file that exists and was not to be replaced (the caller did not pass `force`).
    case outputExists(String)
    /// A parameter of a library call out of its range, described in the library's terms
    /// ("batch size must be at least 1, got 0"); the CLI names the option that set it.
    case invalidParameter(Parameter, String)
    /// Tensors (or arrays) whose shapes do not fit together; the message names both.
    case shapeMismatch(String)
    /// Any other invalid argument or input, fully described by the message.
    case invalidInput(String)

    public var description: String {
        switch self {
        case .fileNotFound(let path):
            return "file not found: \(path)"
        case .corruptFile(let path, let reason):
            return "\(path): \(reason)"
        case .outputExists(let path):
            return "\(path) already exists (pass force to overwrite it)"
        case .invalidParameter(_, let message), .invalidInput(let message):
            return message
        case .shapeMismatch(let message):
            return "shape mismatch: \(message)"
        }
    }
}

/// The library parameters an `InputError.invalidParameter` can name. The CLI maps each to the
/// option that sets it (`batchSize` → `--batch-size`).
public enum Parameter: String, Sendable, CaseIterable {
    // Datasets
    case batchSize, dataFormat, imageSize, resize, crop, channels, mean, std, limit, classes, skipBad
    // Engine
    case sigma, threads
    // Tracing and evaluation
    case steps, shard, conceptImages, lambda, coding, layers, conceptsPerLayer, conceptsPerChannel, conceptBanks, images, randomOrders, randomPathways
    case model, data
    // Input attribution
    case perturbedModels, ascentSteps, ascentRate, maxCrossings
    // Outputs
    case patches, outputFolder, force
}
