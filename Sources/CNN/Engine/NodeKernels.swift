import Core

/// Forward evaluation and vector-Jacobian products of one node, dispatching to the kernels.
extension Node {
    /// Runs the op on its resolved inputs (`nil` for an omitted optional input). Returns the output
    /// and, for MaxPool, the argmax needed by the backward pass. Public for passes that run a
    /// subnetwork node by node with some ops replaced (the SRD forward of `PFV`).
    public func evaluate(_ inputs: [Tensor?], threads: Int, fuseRelu: Bool = false) throws -> (Tensor, [Int32]?) {
        func input(_ i: Int) throws -> Tensor {
            guard i < inputs.count, let t = inputs[i] else {
                throw ModelError.invalidModel("node '\(name)' (\(op.kind)) is missing input \(i)")
            }
            return t
        }
        switch op {
        case .reshape, .identity, .concat: break
        default:
            // Kernels address buffers directly; empty tensors only pass through shape-only ops.
            if inputs.contains(where: { ($0?.count ?? 1) == 0 }) {
                throw ModelError.invalidModel("node '\(name)' (\(op.kind)) got an empty tensor")
            }
        }
        switch op {
        case .conv(let c):
            return (try Convolution.forward(c, try input(0), threads: threads, fuseRelu: fuseRelu), nil)
        case .batchNorm(let p):
            return (try Elementwise.channelAffine(try input(0), p), nil)
        case .relu, .leakyRelu, .clip, .sigmoid, .hardSigmoid, .hardSwish, .identity:
            return (Elementwise.forward(op, try input(0)), nil)
        case .binary(let k):
            return (try Broadcast.forward(k, try input(0), try input(1)), nil)
        case .maxPool(let p):
            let (y, arg) = try Pooling.maxForward(p, try input(0), threads: threads)
            return (y, arg)
        case .averagePool(let p, let inc):
            return (try Pooling.averageForward(p, includePad: inc, try input(0)), nil)
        case .globalAveragePool:
            let x = try input(0)
            guard x.rank >= 3 else { throw ModelError.shapeMismatch("GlobalAveragePool needs [N, C, ...], got \(x.shape)") }
            return (Reduction.meanForward(x, axes: Array(2..<x.rank), keepDims: true), nil)
        case .reduceMean(let axes, let keep):
            let x = try input(0)
            let norm = try axes.map { try ShapeOps.normalize($0, rank: x.rank, "ReduceMean") }
            return (Reduction.meanForward(x, axes: norm, keepDims: keep), nil)
        case .reshape(let rule):
            let x = try input(0)
            return (Tensor(uncheckedShape: try ShapeOps.outputShape(rule, x.shape), data: x.data), nil)
        case .concat(let axis):
            return (try ShapeOps.concat(try (0..<inputs.count).map(input), axis: axis), nil)
        case .gemm(let alpha, let beta, let ta, let tb):
            let c = inputs.count > 2 ? inputs[2] : nil
            return (try Linear.gemmForward(try input(0), try input(1), c, alpha: alpha, beta: beta, transA: ta, transB: tb), nil)
        case .matMul:
            return (try Linear.matMulForward(try input(0), try input(1)), nil)
        case .softmax(let axis, let coerce):
            let x = try input(0)
            let a = try ShapeOps.normalize(axis, rank: x.rank, "Softmax")
            return (Reduction.softmaxForward(x, axis: a, coerce2D: coerce), nil)
        case .pointwise, .power, .rearrange, .layerNormalization:
            return (try evaluateModern(try input(0)), nil)
        case .treeEnsemble(let trees):
            return (try trees.evaluate(try input(0), node: name), nil)
        case .treeLabel(let trees):
            return (try trees.labels(try input(0), node: name), nil)
        case .argMax(let axis, let keep, let last):
            return (try Discrete.argMax(try input(0), axis: axis, keepDims: keep, selectLast: last), nil)
        case .castToInteger(let boolean):
            return (Discrete.castToInteger(try input(0), boolean: boolean), nil)
        }
    }

    /// Cotangents of the inputs flagged in `needs`, from the cotangent `grad` of the output.
    ///
    /// `inputs`/`output`/`argmax` come from the forward on N samples; `grad` holds N·`tile`
    /// samples on axis 0, sample-major (rows `n·tile ..< (n+1)·tile` belong to sample n).
    /// `grad` is consumed: pointwise activations mask it in place when its storage is not shared.
    func vectorJacobian(inputs: [Tensor?], output: Tensor, argmax: [Int32]?, grad: consuming Tensor,
                        tile t: Int, needs: [Bool], threads: Int) throws -> [Tensor?] {
        let x = inputs.first ?? nil
        func first() throws -> Tensor {
            guard let x else { throw ModelError.invalidModel("node '\(name)' has no input") }
            return x
        }
        func tiledShape(_ s: [Int]) -> [Int] {
            var s = s
            if t > 1 && !s.isEmpty { s[0] *= t }
            return s
        }
        switch op {
        case .conv(let c):
            return [try Convolution.backward(c, inputShape: try first().shape, grad: grad, threads: threads)]
        case .batchNorm(let p):
            return [try Elementwise.channelAffine(grad, p, withShift: false)]
        case .relu, .leakyRelu, .clip, .sigmoid, .hardSigmoid, .hardSwish, .identity:
            Elementwise.backward(op, x: try first(), y: output, grad: &grad, tile: t)
            return [grad]
        case .binary(let kind):
            guard inputs.count == 2, let a = inputs[0], let b = inputs[1] else { return [nil, nil] }
            let outShape = output.shape
            func batched(_ v: Tensor) -> Bool { t > 1 && v.rank == outShape.count && v.shape.first == outShape.first }
            var ga: Tensor? = nil, gb: Tensor? = nil
            if kind == .add || kind == .sub {
                // Only the operands' shapes matter: no tiled copies; without broadcasting the
                // cotangent passes through unchanged (shared storage).
                if needs[0] { ga = Broadcast.reduce(grad, to: batched(a) ? tiledShape(a.shape) : a.shape) }
                if needs[1] { gb = Broadcast.reduce(grad, to: batched(b) ? tiledShape(b.shape) : b.shape, scale: kind == .sub ? -1 : 1) }
                return [ga, gb]
            }
            let at = batched(a) ? Buffers.tile(a, times: t) : a
            let bt = batched(b) ? Buffers.tile(b, times: t) : b
            switch kind {
            case .add, .sub:
                break
            case .mul:
                if needs[0] { ga = Broadcast.reduce(grad, to: at.shape, times: bt) }
                if needs[1] { gb = Broadcast.reduce(grad, to: bt.shape, times: at) }
            case .div:
                if needs[0] { ga = Broadcast.reduce(try Broadcast.forward(.div, grad, bt), to: at.shape) }
                if needs[1] {
                    let yt = Buffers.tile(output, times: t)
                    let q = try Broadcast.forward(.div, try Broadcast.forward(.mul, grad, yt), bt)
                    gb = Broadcast.reduce(q, to: bt.shape, scale: -1)
                }
            }
            return [ga, gb]
        case .maxPool:
            guard let argmax else { throw ModelError.invalidModel("MaxPool '\(name)': backward without forward argmax") }
            return [Pooling.maxBackward(inputShape: try first().shape, argmax: argmax, grad: grad, tile: t)]
        case .averagePool(let p, let inc):
            return [Pooling.averageBackward(p, includePad: inc, inputShape: try first().shape, grad: grad)]
        case .globalAveragePool:
            let s = try first().shape
            return [Reduction.meanBackward(inputShape: s, axes: Array(2..<s.count), grad: grad, tile: t)]
        case .reduceMean(let axes, _):
            let s = try first().shape
            let norm = try axes.map { try ShapeOps.normalize($0, rank: s.count, "ReduceMean") }
            return [Reduction.meanBackward(inputShape: s, axes: norm, grad: grad, tile: t)]
        case .reshape:
            let s = tiledShape(try first().shape)
            return [try Tensor(shape: s, data: grad.data)]
        case .concat(let axis):
            let shapes = try inputs.map { v -> [Int] in
                guard let v else { throw ModelError.invalidModel("Concat '\(name)' has an omitted input") }
                return v.shape
            }
            return try ShapeOps.concatBackward(grad, shapes: shapes, axis: axis, tile: t).map { Optional($0) }
        case .gemm(let alpha, let beta, let ta, let tb):
            guard inputs.count >= 2, let a = inputs[0], let b = inputs[1] else { return [] }
            let c = inputs.count > 2 ? inputs[2] : nil
            let n3 = needs + [Bool](repeating: false, count: max(0, 3 - needs.count))
            return try Linear.gemmBackward(a, b, c, alpha: alpha, beta: beta, transA: ta, transB: tb,
                                           grad: grad, tile: t, needs: n3)
        case .matMul:
            guard inputs.count == 2, let a = inputs[0], let b = inputs[1] else { return [] }
            if a.rank < 2 || b.rank != 2 || (needs.count > 1 && needs[1] && t > 1) {
                return try MatMulND.backward(a, b, output: output, grad: grad, tile: t, needs: needs)
            }
            return try Linear.matMulBackward(a, b, grad: grad, tile: t, needs: needs)
        case .softmax(let axis, let coerce):
            let a = try ShapeOps.normalize(axis, rank: output.rank, "Softmax")
            return [Reduction.softmaxBackward(y: output, grad: grad, axis: a, coerce2D: coerce, tile: t)]
        case .pointwise, .power, .rearrange, .layerNormalization:
            return [try vectorJacobianModern(x: try first(), output: output, grad: grad, tile: t)]
        case .treeEnsemble, .treeLabel, .argMax, .castToInteger:
            // Piecewise constant: the gradient is zero almost everywhere (no cotangent flows).
            return inputs.map { _ in nil }
        }
    }
}
