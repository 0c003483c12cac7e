import Core

/// What can go wrong learning or using concepts, in those terms. An unreadable bank file is an
/// `InputError.corruptFile`.
///
///     throw ConceptError.invalidRequest("PCA: K = 40 must be between 1 and min(PFVs, channels) = 32")
public enum ConceptError: UserError, Equatable {
    /// A K, option or call the method cannot take.
    case invalidRequest(String)
    /// PFVs no concept can be learned from (none, all zero, not finite).
    case invalidPFVs(String)
    /// A concept bank that is inconsistent (refused for writing or restoring).
    case invalidBank(String)
    /// PFVs, codes or concepts whose shapes do not fit.
    case shapeMismatch(String)
    /// A linear-algebra routine that did not converge.
    case numericalFailure(String)

    public var description: String {
        switch self {
        case .invalidRequest(let m), .invalidPFVs(let m), .invalidBank(let m), .numericalFailure(let m): return m
        case .shapeMismatch(let m): return "shape mismatch: \(m)"
        }
    }
}
