import Core
/// Ops with integer-valued outputs that exports put around tree ensembles (ArgMax, Cast to
/// integers). Their values are floats in this engine; their gradients are zero.
enum Discrete {
    /// ONNX ArgMax: the index of the maximum along `axis` (ties: the first, or the last with
    /// `selectLast`), as floats.
    static func argMax(_ x: Tensor, axis: Int, keepDims: Bool, selectLast: Bool) throws -> Tensor {
        let a = try ShapeOps.normalize(axis, rank: x.rank, "ArgMax")
        let outer = x.shape[..<a].reduce(1, *), len = x.shape[a], inner = x.shape[(a + 1)...].reduce(1, *)
        guard len > 0 else { throw ModelError.invalidModel("ArgMax over an empty axis \(a) of shape \(x.shape)") }
        var out = [Float](repeating: 0, count: outer * inner)
        for o in 0..<outer {
            for i in 0..<inner {
                var best = 0, value = x.data[o * len * inner + i]
                for k in 1..<len {
                    let v = x.data[(o * len + k) * inner + i]
                    if v > value || (selectLast && v == value) { best = k; value = v }
                }
                out[o * inner + i] = Float(best)
            }
        }
        var shape = x.shape
        if keepDims { shape[a] = 1 } else { shape.remove(at: a) }
        return Tensor(uncheckedShape: shape, data: out)
    }

    /// ONNX Cast to an integer type (truncation toward zero) or to bool (x ≠ 0 → 1).
    static func castToInteger(_ x: Tensor, boolean: Bool) -> Tensor {
        Tensor(uncheckedShape: x.shape, data: x.data.map { v in
            boolean ? (v != 0 ? 1 : 0) : (v.isFinite ? v.rounded(.towardZero) : v)
        })
    }
}
