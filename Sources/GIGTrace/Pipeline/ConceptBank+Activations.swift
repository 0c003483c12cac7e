import Concepts
import Core
import PFV

extension ConceptBank {
    /// Codes of every PFV of a batch of activations `x` ([N, C, H, W] of layer `g`, C = the bank's
    /// channels): an (N·P)×K matrix, image-major, p = h·W + w, so rows n·P..<(n+1)·P are image n's
    /// P×K codes as `GIGComputation.compute` takes them. `BatchTracer` codes every batch through this.
    public func encode(activations x: Tensor, geometry g: LayerGeometry, threads: Int = 1) throws -> Matrix {
        guard x.rank == 4, Array(x.shape.dropFirst()) == [g.channels, g.height, g.width], g.channels == channels else {
            throw TraceError.shapeMismatch("activations \(x.shape) do not fit layer '\(g.name)' (\(g.channels)×\(g.height)×\(g.width)) and its bank of \(channels) channels")
        }
        return try encode(BatchTracer.pfvRows(x, g), threads: threads)
    }
}
