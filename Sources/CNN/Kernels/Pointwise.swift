import Core
import Foundation

/// The smooth pointwise functions of transformer-era CNNs (ConvNeXt's GELU, LayerNorm written out
/// as Sqrt/Pow, the Erf inside an exported exact GELU).
public enum PointwiseKind: Sendable, Equatable {
    case erf
    case sqrt
    /// `x · Φ(x)` = `x / 2 · (1 + erf(x / √2))` (Gelu with `approximate = "none"`).
    case gelu
    /// `x / 2 · (1 + tanh(√(2/π) · (x + 0.044715 x³)))` (Gelu with `approximate = "tanh"`).
    case geluTanh

    public var onnxName: String {
        switch self {
        case .erf: return "Erf"
        case .sqrt: return "Sqrt"
        case .gelu, .geluTanh: return "Gelu"
        }
    }
}

/// Forward and derivative of `PointwiseKind` functions and of `x ^ c` (Pow with a constant
/// exponent). The derivative is diagonal, so one kernel serves the VJP and the JVP.
enum Pointwise {
    static let sqrt2OverPi = Float((2 / Double.pi).squareRoot())
    static let twoOverSqrtPi = Float(2 / Double.pi.squareRoot())

    static func value(_ kind: PointwiseKind, _ x: Float) -> Float {
        switch kind {
        case .erf: return Foundation.erf(x)
        case .sqrt: return x.squareRoot()
        case .gelu: return 0.5 * x * (1 + Foundation.erf(x / Float(2).squareRoot()))
        case .geluTanh: return 0.5 * x * (1 + tanh(sqrt2OverPi * (x + 0.044715 * x * x * x)))
        }
    }

    /// d value / dx at `x` (whose value is `y`).
    static func derivative(_ kind: PointwiseKind, _ x: Float, _ y: Float) -> Float {
        switch kind {
        case .erf: return twoOverSqrtPi * exp(-x * x)
        case .sqrt: return 0.5 / y
        case .gelu:
            // Φ(x) + x φ(x)
            let cdf = 0.5 * (1 + Foundation.erf(x / Float(2).squareRoot()))
            return cdf + x * exp(-0.5 * x * x) / Float(2 * Double.pi).squareRoot()
        case .geluTanh:
            let u = sqrt2OverPi * (x + 0.044715 * x * x * x)
            let th = tanh(u)
            return 0.5 * (1 + th) + 0.5 * x * (1 - th * th) * sqrt2OverPi * (1 + 3 * 0.044715 * x * x)
        }
    }

    static func forward(_ kind: PointwiseKind, _ x: Tensor) -> Tensor {
        let data: [Float] = Buffers.make(x.count) { out in
            x.data.withUnsafeBufferPointer { src in
                for i in 0..<x.count { out[i] = value(kind, src[i]) }
            }
        }
        return Tensor(uncheckedShape: x.shape, data: data)
    }

    /// `grad ⊙ f'(x)` for a (co)tangent `grad` of `[N·T, ...]` against the forward `x`, `y` of
    /// `[N, ...]` (row `r` uses sample `r / T`).
    static func scaleByDerivative(_ kind: PointwiseKind, x: Tensor, y: Tensor, grad: Tensor, tile t: Int) -> Tensor {
        let per = max(1, x.count / max(1, x.shape.first ?? 1))
        let rows = grad.count / per
        var g = grad
        x.data.withUnsafeBufferPointer { xs in
            y.data.withUnsafeBufferPointer { ys in
                g.data.withUnsafeMutableBufferPointer { gs in
                    for r in 0..<rows {
                        let o = r * per, s = (r / t) * per
                        for i in 0..<per { gs[o + i] *= derivative(kind, xs[s + i], ys[s + i]) }
                    }
                }
            }
        }
        return g
    }

    // MARK: Pow with a constant exponent

    /// `x ^ e` with NumPy broadcasting of the constant `e`.
    static func powForward(_ x: Tensor, exponent e: Tensor) throws -> Tensor {
        let shape = try Broadcast.shape(x.shape, e.shape)
        let xb = try expand(x, to: shape), eb = try expand(e, to: shape)
        let data: [Float] = Buffers.make(xb.count) { out in
            for i in 0..<xb.count { out[i] = power(xb.data[i], eb.data[i]) }
        }
        return Tensor(uncheckedShape: shape, data: data)
    }

    /// `e · x^(e−1)` on the tiled output shape (`[N·T, ...]` when x is batched), as a tensor.
    static func powDerivative(_ x: Tensor, exponent e: Tensor, outputShape: [Int], tile t: Int) throws -> Tensor {
        let batched = t > 1 && x.rank == outputShape.count && x.shape.first == outputShape.first
        let xt = batched ? Buffers.tile(x, times: t) : x
        var shape = outputShape
        if t > 1 && !shape.isEmpty { shape[0] *= t }
        let xb = try expand(xt, to: shape), eb = try expand(e, to: shape)
        let data: [Float] = Buffers.make(xb.count) { out in
            for i in 0..<xb.count {
                let p = eb.data[i]
                out[i] = p == 0 ? 0 : p * power(xb.data[i], p - 1)
            }
        }
        return Tensor(uncheckedShape: shape, data: data)
    }

    /// `x^p` with the exact small integer powers the LayerNorm decomposition uses (`Pow(d, 2)`).
    @inline(__always)
    static func power(_ x: Float, _ p: Float) -> Float {
        if p == 2 { return x * x }
        if p == 1 { return x }
        if p == 0.5 { return x.squareRoot() }
        return Foundation.pow(x, p)
    }

    /// `v` broadcast to `shape` (no copy when it already has it).
    static func expand(_ v: Tensor, to shape: [Int]) throws -> Tensor {
        v.shape == shape ? v : try Broadcast.forward(.add, v, Tensor(shape: shape))
    }
}
