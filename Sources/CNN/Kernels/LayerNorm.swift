import Core

/// ONNX LayerNormalization: each row of the axes from `axis` on is normalised,
/// `y = (x − μ) / √(σ² + ε) · scale + bias` (σ² the biased variance), with `scale` and `bias`
/// broadcast to the normalised shape. The node's optional `Mean` and `InvStdDev` outputs are
/// separate graph nodes with `output` set to them.
///
///     let ln = LayerNormalization(axis: -1, epsilon: 1e-6, scale: gamma, bias: beta, output: .normalized)
public struct LayerNormalization: Sendable {
    public enum Output: Int, Sendable {
        case normalized = 0, mean = 1, invStdDev = 2
    }

    public var axis: Int
    public var epsilon: Float
    public var scale: Tensor?
    public var bias: Tensor?
    public var output: Output

    public init(axis: Int, epsilon: Float, scale: Tensor?, bias: Tensor?, output: Output) {
        self.axis = axis
        self.epsilon = epsilon
        self.scale = scale
        self.bias = bias
        self.output = output
    }

    /// (rows, row length D, first normalised axis) of an input of `shape`.
    private func layout(_ shape: [Int]) throws -> (rows: Int, length: Int, axis: Int) {
        let a = try ShapeOps.normalize(axis, rank: shape.count, "LayerNormalization")
        let d = shape[a...].reduce(1, *)
        guard d > 0 else { throw ModelError.invalidModel("LayerNormalization over an empty axis of \(shape)") }
        return (shape[..<a].reduce(1, *), d, a)
    }

    /// `scale` / `bias` expanded to one value per element of a normalised row (nil: absent).
    private func rowParameter(_ p: Tensor?, _ shape: [Int], axis a: Int) throws -> [Float]? {
        guard let p else { return nil }
        let normShape = Array(shape[a...])
        let e = try Pointwise.expand(p, to: try Broadcast.shape(normShape, p.shape))
        guard e.shape == normShape else {
            throw ModelError.shapeMismatch("LayerNormalization parameter \(p.shape) does not broadcast to \(normShape)")
        }
        return e.data
    }

    /// Per row: mean and 1/√(σ² + ε), in Double.
    private func statistics(_ x: Tensor, rows: Int, length d: Int) -> (mean: [Double], inv: [Double]) {
        var mean = [Double](repeating: 0, count: rows), inv = mean
        x.data.withUnsafeBufferPointer { xs in
            for r in 0..<rows {
                var s = 0.0
                for i in 0..<d { s += Double(xs[r * d + i]) }
                let m = s / Double(d)
                var v = 0.0
                for i in 0..<d { let c = Double(xs[r * d + i]) - m; v += c * c }
                mean[r] = m
                inv[r] = 1 / (v / Double(d) + Double(epsilon)).squareRoot()
            }
        }
        return (mean, inv)
    }

    public func forward(_ x: Tensor) throws -> Tensor {
        let (rows, d, a) = try layout(x.shape)
        let (mean, inv) = statistics(x, rows: rows, length: d)
        switch output {
        case .mean, .invStdDev:
            let shape = Array(x.shape[..<a]) + [Int](repeating: 1, count: x.rank - a)
            return Tensor(uncheckedShape: shape, data: (output == .mean ? mean : inv).map { Float($0) })
        case .normalized:
            let g = try rowParameter(scale, x.shape, axis: a), b = try rowParameter(bias, x.shape, axis: a)
            let data: [Float] = Buffers.make(x.count) { out in
                for r in 0..<rows {
                    for i in 0..<d {
                        var v = Float((Double(x.data[r * d + i]) - mean[r]) * inv[r])
                        if let g { v *= g[i] }
                        if let b { v += b[i] }
                        out[r * d + i] = v
                    }
                }
            }
            return Tensor(uncheckedShape: x.shape, data: data)
        }
    }

    /// VJP (`transpose` true) or JVP (false) of the output at forward input `x` `[N, ...]`, for
    /// (co)tangents `v` of `[N·T, ...]` (row block `r` uses sample `r / T`). The Jacobian of the
    /// normalised row x̂ is (I − 11ᵀ/D − x̂x̂ᵀ/D)/σ, symmetric, so the two differ only in whether
    /// `scale` multiplies before (VJP) or after (JVP).
    func linearised(_ x: Tensor, _ v: Tensor, tile t: Int, transpose: Bool) throws -> Tensor {
        let (rows, d, a) = try layout(x.shape)
        guard t == 1 || a >= 1 else {
            throw ModelError.unsupported("LayerNormalization over axis 0: batched (co)tangents not supported")
        }
        let (mean, inv) = statistics(x, rows: rows, length: d)
        let rowsPerSample = max(1, rows / max(1, x.shape.first ?? 1))
        let vRows = v.count / (output == .normalized ? d : 1)
        let g = try rowParameter(scale, x.shape, axis: a)
        func forwardRow(_ r: Int) -> Int { (r / rowsPerSample / t) * rowsPerSample + r % rowsPerSample }
        switch output {
        case .normalized:
            let data: [Float] = Buffers.make(v.count) { out in
                for r in 0..<vRows {
                    let f = forwardRow(r), m = mean[f], s = inv[f]
                    var w = [Double](repeating: 0, count: d), xhat = w
                    for i in 0..<d {
                        xhat[i] = (Double(x.data[f * d + i]) - m) * s
                        w[i] = Double(v.data[r * d + i]) * (transpose ? Double(g?[i] ?? 1) : 1)
                    }
                    var sumW = 0.0, sumWX = 0.0
                    for i in 0..<d { sumW += w[i]; sumWX += w[i] * xhat[i] }
                    let mw = sumW / Double(d), mwx = sumWX / Double(d)
                    for i in 0..<d {
                        var o = s * (w[i] - mw - xhat[i] * mwx)
                        if !transpose { o *= Double(g?[i] ?? 1) }
                        out[r * d + i] = Float(o)
                    }
                }
            }
            return Tensor(uncheckedShape: v.shape, data: data)
        case .mean, .invStdDev:
            // d μ = mean(dx); d (1/σ) = −(1/σ)³ · mean((x − μ) dx). Both are one row vector r_i.
            func coefficient(_ f: Int, _ i: Int) -> Double {
                output == .mean ? 1 / Double(d)
                    : -inv[f] * inv[f] * inv[f] * (Double(x.data[f * d + i]) - mean[f]) / Double(d)
            }
            if transpose {
                var shape = x.shape
                shape[0] *= t
                let data: [Float] = Buffers.make(vRows * d) { out in
                    for r in 0..<vRows {
                        let f = forwardRow(r)
                        for i in 0..<d { out[r * d + i] = Float(Double(v.data[r]) * coefficient(f, i)) }
                    }
                }
                return Tensor(uncheckedShape: shape, data: data)
            }
            let outRows = v.count / d
            var shape = Array(x.shape[..<a]) + [Int](repeating: 1, count: x.rank - a)
            shape[0] *= t
            let data: [Float] = Buffers.make(outRows) { out in
                for r in 0..<outRows {
                    let f = forwardRow(r)
                    var s = 0.0
                    for i in 0..<d { s += Double(v.data[r * d + i]) * coefficient(f, i) }
                    out[r] = Float(s)
                }
            }
            return Tensor(uncheckedShape: shape, data: data)
        }
    }
}
