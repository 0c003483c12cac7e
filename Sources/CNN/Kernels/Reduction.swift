import Core
import Foundation

/// ReduceMean (GlobalAveragePool is its case `axes = [2, 3]`) and Softmax, forward and VJP.
enum Reduction {
    /// Mean over `axes` (non-negative, sorted or not); output keeps reduced axes as 1 when `keepDims`.
    static func meanForward(_ x: Tensor, axes: [Int], keepDims: Bool) -> Tensor {
        var kept = x.shape
        var count = 1
        for a in Set(axes) { count *= kept[a]; kept[a] = 1 }
        let r = Broadcast.reduce(x, to: kept, scale: count == 0 ? 0 : 1 / Float(count))
        if keepDims { return r }
        let dropped = x.shape.indices.filter { !axes.contains($0) }.map { x.shape[$0] }
        return Tensor(uncheckedShape: dropped, data: r.data)
    }

    /// Spreads `grad` (`[S, ...]` of the output shape, S = N·T) evenly back over the reduced axes.
    static func meanBackward(inputShape s: [Int], axes: [Int], grad: Tensor, tile t: Int) -> Tensor {
        var inShape = s
        if t > 1 { inShape[0] *= t }
        var kept = inShape
        var count = 1
        for a in Set(axes) { count *= kept[a]; kept[a] = 1 }
        let g = Tensor(uncheckedShape: kept, data: grad.data)
        let scale = count == 0 ? 0 : 1 / Float(count)
        let data: [Float] = Buffers.make(Tensor.elementCount(inShape)) { out in
            g.data.withUnsafeBufferPointer { gs in
                Broadcast.forEachRow(inShape, inShape, kept) { oo, _, og, len, _, dg in
                    for i in 0..<len { out[oo + i] = gs[og + i * dg] * scale }
                }
            }
        }
        return Tensor(uncheckedShape: inShape, data: data)
    }

    /// (outer, length, inner) of a softmax over `axis` (or, with `coerce2D`, all axes from it).
    static func softmaxLayout(_ s: [Int], axis: Int, coerce2D: Bool) -> (Int, Int, Int) {
        let outer = s[..<axis].reduce(1, *)
        if coerce2D { return (outer, s[axis...].reduce(1, *), 1) }
        return (outer, s[axis], s[(axis + 1)...].reduce(1, *))
    }

    static func softmaxForward(_ x: Tensor, axis: Int, coerce2D: Bool) -> Tensor {
        let (outer, len, inner) = softmaxLayout(x.shape, axis: axis, coerce2D: coerce2D)
        let data: [Float] = Buffers.make(x.count) { out in
            x.data.withUnsafeBufferPointer { xs in
                for o in 0..<outer {
                    for i in 0..<inner {
                        let base = o * len * inner + i
                        var m = -Float.infinity
                        for k in 0..<len { m = max(m, xs[base + k * inner]) }
                        var sum: Float = 0
                        for k in 0..<len { let e = exp(xs[base + k * inner] - m); out[base + k * inner] = e; sum += e }
                        for k in 0..<len { out[base + k * inner] /= sum }
                    }
                }
            }
        }
        return Tensor(uncheckedShape: x.shape, data: data)
    }

    /// `dx = y ⊙ (g − Σ g ⊙ y)` per softmax row; cotangent rows of sample `r / t` use its `y`.
    static func softmaxBackward(y: Tensor, grad: Tensor, axis: Int, coerce2D: Bool, tile t: Int) -> Tensor {
        let yt = Buffers.tile(y, times: t)
        let (outer, len, inner) = softmaxLayout(yt.shape, axis: axis, coerce2D: coerce2D)
        let data: [Float] = Buffers.make(grad.count) { out in
            yt.data.withUnsafeBufferPointer { ys in
                grad.data.withUnsafeBufferPointer { gs in
                    for o in 0..<outer {
                        for i in 0..<inner {
                            let base = o * len * inner + i
                            var dot: Float = 0
                            for k in 0..<len { dot += gs[base + k * inner] * ys[base + k * inner] }
                            for k in 0..<len { let j = base + k * inner; out[j] = ys[j] * (gs[j] - dot) }
                        }
                    }
                }
            }
        }
        return Tensor(uncheckedShape: grad.shape, data: data)
    }
}
