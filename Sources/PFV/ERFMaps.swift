import Core

/// Receptive-field maps of a batch of PFVs of one image.
public struct ERFMaps: Sendable {
    /// `[P, H_in, W_in]`, one map per requested position, in request order.
    public let maps: Tensor
    /// The method actually used (`.gradient` when SRD fell back).
    public let method: ERFMethod
    /// Why the method differs from the requested one, naming the nodes involved; empty otherwise.
    public let warnings: [String]
    /// The SRD details (mass per tensor, dropped relevance) when SRD was used.
    public let srd: SRDResult?

    /// The map of PFV `i` as a row-major H_in·W_in array.
    public func map(_ i: Int) -> [Float] {
        let n = maps.shape[1] * maps.shape[2]
        return Array(maps.data[(i * n)..<((i + 1) * n)])
    }
}
