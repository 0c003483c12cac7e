@testable import Concepts

/// A concept bank of `k` unit-norm concepts over 2 channels (no mean), for traces built by hand
/// in the CLI tests: consistent by construction, so a failure is a bug in the test.
func unitBank(_ layer: String, _ k: Int) -> ConceptBank {
    let options = ConceptOptions()
    return try! ConceptBank.restored(
        layer: layer, method: .nmf, concepts: Matrix(rows: k, cols: 2, data: Array(repeating: Float(0.5).squareRoot(), count: k * 2)),
        mean: nil, lambda: 0.1, codingMaxSweeps: options.codingMaxSweeps, codingTolerance: options.codingTolerance,
        sample: ConceptSample(seed: 1, count: 0), r2: 0.8, meanNonzeros: 1, activeShare: Array(repeating: 0.5, count: k))
}
