/// Bridges from a learned `ConceptBank` (Concepts module) to what GIG consumes.
extension ConceptBasis {
    /// GIG's view of a bank: its K×C vectors, the PCA mean as one more source, signed codes unless
    /// the method's codes are non-negative.
    public init(bank: ConceptBank) throws {
        try self.init(count: bank.k, channels: bank.channels, vectors: bank.concepts.data, mean: bank.mean,
                      signedCodes: !bank.method.nonNegativeCodes)
    }
}

extension ConceptBank {
    /// Codes of every PFV of a batch of activations `x` ([N, C, H, W], C = the bank's channels):
    /// an (N·P)×K matrix, image-major, p = h·W + w, so rows n·P..<(n+1)·P are image n's P×K codes
    /// as `GIGRelevance.compute` takes them.
    public func encode(activations x: Tensor, threads: Int = 1) throws -> Matrix {
        guard x.rank == 4, x.shape[1] == channels else {
            throw CNNError.shapeMismatch("activations \(x.shape) do not have the \(channels) channels of layer '\(layer)'")
        }
        let (n, c, p) = (x.shape[0], x.shape[1], x.shape[2] * x.shape[3])
        var pfvs = Matrix(rows: n * p, cols: c)
        for i in 0..<n { for ch in 0..<c { for q in 0..<p { pfvs.data[(i * p + q) * c + ch] = x.data[(i * c + ch) * p + q] } } }
        return try encode(pfvs, threads: threads)
    }
}
