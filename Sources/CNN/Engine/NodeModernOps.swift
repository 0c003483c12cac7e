import Core

/// Forward, VJP and JVP of the ops added for transformer-era CNNs (ConvNeXt): pointwise
/// Erf/Sqrt/Gelu, Pow with a constant exponent, the rearrangements (Transpose, Slice, Pad, Split)
/// and LayerNormalization. `NodeKernels` / `NodeTangents` dispatch here.
extension Node {
    func evaluateModern(_ x: Tensor) throws -> Tensor {
        switch op {
        case .pointwise(let k): return Pointwise.forward(k, x)
        case .power(let e): return try Pointwise.powForward(x, exponent: e)
        case .rearrange(let r): return try r.forward(x)
        case .layerNormalization(let ln): return try ln.forward(x)
        default: throw ModelError.unsupportedOp(op: op.kind, node: name)
        }
    }

    /// The cotangent of the (only computed) input `x` from the output cotangent `grad` `[N·T, ...]`.
    func vectorJacobianModern(x: Tensor, output: Tensor, grad: Tensor, tile t: Int) throws -> Tensor {
        switch op {
        case .pointwise(let k):
            return Pointwise.scaleByDerivative(k, x: x, y: output, grad: grad, tile: t)
        case .power(let e):
            let d = try Pointwise.powDerivative(x, exponent: e, outputShape: output.shape, tile: t)
            let batched = t > 1 && x.rank == output.rank && x.shape.first == output.shape.first
            var target = x.shape
            if batched { target[0] *= t }
            return Broadcast.reduce(grad, to: target, times: d)
        case .rearrange(let r):
            return try r.backward(grad, inputShape: x.shape, tile: t)
        case .layerNormalization(let ln):
            return try ln.linearised(x, grad, tile: t, transpose: true)
        default:
            throw ModelError.unsupportedOp(op: "\(op.kind) backward", node: name)
        }
    }

    /// The tangent of the output from the tangent `dx` `[N·T, ...]` of the input `x`.
    func jacobianVectorModern(x: Tensor, output: Tensor, tangent dx: Tensor, tile t: Int) throws -> Tensor {
        switch op {
        case .pointwise(let k):
            return Pointwise.scaleByDerivative(k, x: x, y: output, grad: dx, tile: t)
        case .power(let e):
            let d = try Pointwise.powDerivative(x, exponent: e, outputShape: output.shape, tile: t)
            return try Broadcast.forward(.mul, dx, d)
        case .rearrange(let r):
            return try r.tangent(dx, inputShape: x.shape, tile: t)
        case .layerNormalization(let ln):
            return try ln.linearised(x, dx, tile: t, transpose: false)
        default:
            throw ModelError.unsupportedOp(op: "\(op.kind) in forward mode", node: name)
        }
    }
}
