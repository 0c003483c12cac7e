import Core

/// What can be wrong with a trace, its settings or a request on it, in GIGTrace's terms. An
/// unreadable trace database is an `InputError.corruptFile`; a parameter out of range is
/// `InputError.invalidParameter`; model problems are `ModelError`s.
///
///     throw TraceError.invalidSettings("traced layers must run forward, …")
public enum TraceError: UserError, Equatable {
    /// Trace, evaluation, attribution or export settings that do not fit the model or data.
    case invalidSettings(String)
    /// A stored trace (or shard) that is inconsistent or does not fit the request.
    case invalidTrace(String)
    /// A request on a trace or graph that cannot be served (an unknown class or concept, …).
    case invalidRequest(String)
    /// Relevance, codes or activations whose shapes do not fit together.
    case shapeMismatch(String)

    public var description: String {
        switch self {
        case .invalidSettings(let m), .invalidTrace(let m), .invalidRequest(let m): return m
        case .shapeMismatch(let m): return "shape mismatch: \(m)"
        }
    }
}
