import Core

/// NumPy-style broadcasting for the binary arithmetic ops, forward and backward.
enum Broadcast {
    /// The broadcast shape of `a` and `b`, or a shape-mismatch error naming both.
    static func shape(_ a: [Int], _ b: [Int]) throws -> [Int] {
        let r = max(a.count, b.count)
        let pa = [Int](repeating: 1, count: r - a.count) + a
        let pb = [Int](repeating: 1, count: r - b.count) + b
        return try (0..<r).map { i in
            if pa[i] == pb[i] || pb[i] == 1 { return pa[i] }
            if pa[i] == 1 { return pb[i] }
            throw ModelError.shapeMismatch("cannot broadcast \(a) with \(b)")
        }
    }

    /// Strides of `s` aligned to an output of rank `rank`, 0 along broadcast axes.
    private static func alignedStrides(_ s: [Int], _ out: [Int]) -> [Int] {
        let pad = out.count - s.count
        let own = Tensor.strides(s)
        return (0..<out.count).map { i in
            i < pad ? 0 : (s[i - pad] == 1 && out[i] != 1 ? 0 : own[i - pad])
        }
    }

    /// Calls `body(outOffset, aOffset, bOffset, length, aStep, bStep)` for every run along the
    /// last axis of `out`.
    static func forEachRow(_ out: [Int], _ a: [Int], _ b: [Int],
                           _ body: (Int, Int, Int, Int, Int, Int) -> Void) {
        let total = Tensor.elementCount(out)
        if total == 0 { return }
        if out.isEmpty { body(0, 0, 0, 1, 0, 0); return }
        let sa = alignedStrides(a, out), sb = alignedStrides(b, out)
        let r = out.count, len = out[r - 1]
        var idx = [Int](repeating: 0, count: r)
        var oa = 0, ob = 0, oo = 0
        while oo < total {
            body(oo, oa, ob, len, sa[r - 1], sb[r - 1])
            oo += len
            var d = r - 2
            while d >= 0 {
                idx[d] += 1
                oa += sa[d]; ob += sb[d]
                if idx[d] < out[d] { break }
                oa -= sa[d] * out[d]; ob -= sb[d] * out[d]
                idx[d] = 0
                d -= 1
            }
            if d < 0 { break }
        }
    }

    /// `a (op) b` with broadcasting.
    static func forward(_ kind: BinaryKind, _ a: Tensor, _ b: Tensor) throws -> Tensor {
        let out = try shape(a.shape, b.shape)
        let n = Tensor.elementCount(out)
        let data: [Float] = Buffers.make(n) { o in
            a.data.withUnsafeBufferPointer { pa in
                b.data.withUnsafeBufferPointer { pb in
                    forEachRow(out, a.shape, b.shape) { oo, oa, ob, len, da, db in
                        let x = pa.baseAddress! + oa, y = pb.baseAddress! + ob, z = o.baseAddress! + oo
                        switch kind {
                        case .add: for i in 0..<len { z[i] = x[i * da] + y[i * db] }
                        case .sub: for i in 0..<len { z[i] = x[i * da] - y[i * db] }
                        case .mul: for i in 0..<len { z[i] = x[i * da] * y[i * db] }
                        case .div: for i in 0..<len { z[i] = x[i * da] / y[i * db] }
                        }
                    }
                }
            }
        }
        return Tensor(uncheckedShape: out, data: data)
    }

    /// Sums `g` (of the broadcast shape) down to `target`, optionally multiplying by `factor`
    /// (also broadcast to `g`'s shape) first.
    static func reduce(_ g: Tensor, to target: [Int], times factor: Tensor? = nil, scale: Float = 1) -> Tensor {
        if factor == nil && target == g.shape && scale == 1 { return g }
        var acc = [Float](repeating: 0, count: Tensor.elementCount(target))
        let fShape = factor?.shape ?? []
        let fData = factor?.data ?? [1]
        acc.withUnsafeMutableBufferPointer { pa in
            g.data.withUnsafeBufferPointer { pg in
                fData.withUnsafeBufferPointer { pf in
                    // Iterate over g's shape; `a` = target, `b` = factor.
                    forEachRow(g.shape, target, fShape) { og, ot, of, len, dt, df in
                        let gg = pg.baseAddress! + og, t = pa.baseAddress! + ot, f = pf.baseAddress! + of
                        if dt == 0 {
                            var s: Float = 0
                            for i in 0..<len { s += gg[i] * f[i * df] }
                            t[0] += s * scale
                        } else {
                            for i in 0..<len { t[i * dt] += gg[i] * f[i * df] * scale }
                        }
                    }
                }
            }
        }
        return Tensor(uncheckedShape: target, data: acc)
    }
}
