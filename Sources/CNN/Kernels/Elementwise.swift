import Core
import Foundation

/// Forward and backward of the pointwise activations. Backward takes the cotangent batch
/// `[N*T, ...]` and the forward tensors `[N, ...]`: row `r` of the cotangent uses sample `r / T`.
enum Elementwise {
    /// Applies `op` elementwise to `x`.
    static func forward(_ op: Op, _ x: Tensor) -> Tensor {
        let data: [Float] = Buffers.make(x.count) { out in
            x.data.withUnsafeBufferPointer { src in
                let n = x.count
                switch op {
                case .relu:
                    for i in 0..<n { out[i] = max(src[i], 0) }
                case .leakyRelu(let a):
                    for i in 0..<n { let v = src[i]; out[i] = v >= 0 ? v : a * v }
                case .clip(let lo, let hi):
                    for i in 0..<n { out[i] = min(max(src[i], lo), hi) }
                case .sigmoid:
                    for i in 0..<n { out[i] = 1 / (1 + exp(-src[i])) }
                case .hardSigmoid(let a, let b):
                    for i in 0..<n { out[i] = min(max(a * src[i] + b, 0), 1) }
                case .hardSwish:
                    for i in 0..<n { let v = src[i]; out[i] = v * min(max(v / 6 + 0.5, 0), 1) }
                default:
                    for i in 0..<n { out[i] = src[i] }
                }
            }
        }
        return Tensor(uncheckedShape: x.shape, data: data)
    }

    /// Vector-Jacobian product, in place: `grad` `[N*T, ...]` becomes the cotangent of the input;
    /// `x` / `y` the forward input / output `[N, ...]`. (Copies first only if `grad`'s storage is shared.)
    static func backward(_ op: Op, x: Tensor, y: Tensor, grad: inout Tensor, tile t: Int) {
        let per = max(1, x.count / max(1, x.shape.first ?? 1))
        let rows = grad.count / per
        x.data.withUnsafeBufferPointer { xs in
            y.data.withUnsafeBufferPointer { ys in
                grad.data.withUnsafeMutableBufferPointer { gs in
                    for r in 0..<rows {
                        let o = r * per, s = (r / t) * per
                        let g = gs.baseAddress! + o
                        let xv = xs.baseAddress! + s, yv = ys.baseAddress! + s
                        switch op {
                        case .relu:
                            reluMask(g, xv, count: per)
                        case .leakyRelu(let a):
                            for i in 0..<per { g[i] = xv[i] >= 0 ? g[i] : a * g[i] }
                        case .clip(let lo, let hi):
                            for i in 0..<per { g[i] = (xv[i] > lo && xv[i] < hi) ? g[i] : 0 }
                        case .sigmoid:
                            for i in 0..<per { g[i] = g[i] * yv[i] * (1 - yv[i]) }
                        case .hardSigmoid(let a, let b):
                            for i in 0..<per { let z = a * xv[i] + b; g[i] = (z > 0 && z < 1) ? a * g[i] : 0 }
                        case .hardSwish:
                            for i in 0..<per {
                                let v = xv[i]
                                g[i] = v <= -3 ? 0 : (v >= 3 ? g[i] : g[i] * (2 * v + 3) / 6)
                            }
                        default:
                            break
                        }
                    }
                }
            }
        }
    }

    /// `g[i] = x[i] > 0 ? g[i] : 0`, eight lanes at a time (the scalar loop does not vectorise).
    @inline(__always)
    static func reluMask(_ g: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, count: Int) {
        var i = 0
        while i + 8 <= count {
            var lanes = UnsafeRawPointer(g + i).loadUnaligned(as: SIMD8<Float>.self)
            let xs = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
            lanes.replace(with: 0, where: .!(xs .> 0))
            UnsafeMutableRawPointer(g + i).storeBytes(of: lanes, as: SIMD8<Float>.self)
            i += 8
        }
        while i < count {
            g[i] = x[i] > 0 ? g[i] : 0
            i += 1
        }
    }

    /// Per-channel affine on axis 1 (`[N, C, ...]`): `x * scale[c] + shift[c]`.
    static func channelAffine(_ x: Tensor, _ p: ChannelAffine, withShift: Bool = true) throws -> Tensor {
        guard x.rank >= 2, x.shape[1] == p.scale.count else {
            throw ModelError.shapeMismatch("BatchNormalization with \(p.scale.count) channels applied to \(x.shape)")
        }
        let c = x.shape[1], inner = x.shape.dropFirst(2).reduce(1, *), outer = x.shape[0]
        let data: [Float] = Buffers.make(x.count) { out in
            x.data.withUnsafeBufferPointer { src in
                for n in 0..<outer {
                    for ch in 0..<c {
                        let a = p.scale[ch], b = withShift ? p.shift[ch] : 0, base = (n * c + ch) * inner
                        for i in base..<(base + inner) { out[i] = src[i] * a + b }
                    }
                }
            }
        }
        return Tensor(uncheckedShape: x.shape, data: data)
    }
}
