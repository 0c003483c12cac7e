import Core

/// Jacobian-vector products (forward mode) of one node, dispatching to the kernels.
extension Node {
    /// The tangent of the output from the tangents of the inputs (`nil` = zero tangent, e.g. a
    /// constant), linearised at the recorded forward values.
    ///
    /// `inputs`/`output`/`argmax` come from the forward on N samples; tangents hold N·`tile`
    /// samples on axis 0, sample-major (rows `n·tile ..< (n+1)·tile` belong to sample n), as the
    /// cotangents of `vectorJacobian` do. Returns `nil` when every input tangent is zero.
    func jacobianVector(inputs: [Tensor?], output: Tensor, argmax: [Int32]?, tangents: [Tensor?],
                        tile t: Int, threads: Int) throws -> Tensor? {
        guard let firstTangent = tangents.compactMap({ $0 }).first else { return nil }
        var outShape = output.shape
        if !outShape.isEmpty { outShape[0] *= t }
        func input(_ i: Int) throws -> Tensor {
            guard i < inputs.count, let x = inputs[i] else { throw ModelError.invalidModel("node '\(name)' is missing input \(i)") }
            return x
        }
        /// Tangent of input `i`, zeros of its tiled shape when it has none.
        func tangent(_ i: Int) throws -> Tensor {
            if i < tangents.count, let d = tangents[i] { return d }
            var s = try input(i).shape
            if !s.isEmpty { s[0] *= t }
            return Tensor(shape: s)
        }
        func unsupported(_ what: String) -> ModelError {
            ModelError.unsupportedOp(op: "\(op.kind) \(what) in forward mode", node: name)
        }
        switch op {
        case .conv(let c):
            return try Convolution.forward(c, firstTangent, threads: threads, addBias: false)
        case .batchNorm(let p):
            return try Elementwise.channelAffine(firstTangent, p, withShift: false)
        case .relu, .leakyRelu, .clip, .sigmoid, .hardSigmoid, .hardSwish, .identity:
            // Diagonal Jacobian: the VJP kernel multiplies by the same derivative.
            var dy = firstTangent
            Elementwise.backward(op, x: try input(0), y: output, grad: &dy, tile: t)
            return dy
        case .softmax(let axis, let coerce):
            // The softmax Jacobian diag(y) − y yᵀ is symmetric, so the JVP is the VJP.
            let a = try ShapeOps.normalize(axis, rank: output.rank, "Softmax")
            return Reduction.softmaxBackward(y: output, grad: firstTangent, axis: a, coerce2D: coerce, tile: t)
        case .treeEnsemble, .treeLabel, .argMax, .castToInteger:
            // Piecewise constant: zero tangent.
            return nil
        case .binary(let kind):
            let a = try input(0), b = try input(1)
            func tiled(_ v: Tensor) -> Tensor {
                t > 1 && v.rank == output.rank && v.shape.first == output.shape.first ? Buffers.tile(v, times: t) : v
            }
            let ta = tangents.count > 0 ? tangents[0] : nil, tb = tangents.count > 1 ? tangents[1] : nil
            /// `v` broadcast to the tiled output shape (no copy when it already has it).
            func full(_ v: Tensor) throws -> Tensor {
                v.shape == outShape ? v : try Broadcast.forward(.add, v, Tensor(shape: outShape))
            }
            switch kind {
            case .add:
                if let ta, let tb { return try Broadcast.forward(.add, ta, tb) }
                return try full(ta ?? tangent(1))
            case .sub:
                if let ta, let tb { return try Broadcast.forward(.sub, ta, tb) }
                if let ta { return try full(ta) }
                return try Broadcast.forward(.sub, Tensor(shape: outShape), try tangent(1))
            case .mul:
                var sum: Tensor? = nil
                if let ta { sum = try Broadcast.forward(.mul, ta, tiled(b)) }
                if let tb {
                    let part = try Broadcast.forward(.mul, tiled(a), tb)
                    sum = try sum.map { try Broadcast.forward(.add, $0, part) } ?? part
                }
                return try full(sum ?? Tensor(shape: outShape))
            case .div:
                let bt = tiled(b)
                var sum: Tensor? = nil
                if let ta { sum = try Broadcast.forward(.div, ta, bt) }
                if let tb {
                    let part = try Broadcast.forward(.div, try Broadcast.forward(.mul, tb, Buffers.tile(output, times: t)), bt)
                    sum = try sum.map { try Broadcast.forward(.sub, $0, part) }
                        ?? Broadcast.forward(.sub, Tensor(shape: outShape), part)
                }
                return try full(sum ?? Tensor(shape: outShape))
            }
        case .maxPool:
            guard let argmax else { throw ModelError.invalidModel("MaxPool '\(name)': forward mode without forward argmax") }
            return Pooling.maxTangent(argmax: argmax, tangent: firstTangent, outputShape: outShape, tile: t)
        case .averagePool(let p, let inc):
            return try Pooling.averageForward(p, includePad: inc, firstTangent)
        case .globalAveragePool:
            return Reduction.meanForward(firstTangent, axes: Array(2..<firstTangent.rank), keepDims: true)
        case .reduceMean(let axes, let keep):
            let norm = try axes.map { try ShapeOps.normalize($0, rank: firstTangent.rank, "ReduceMean") }
            return Reduction.meanForward(firstTangent, axes: norm, keepDims: keep)
        case .reshape:
            return Tensor(uncheckedShape: outShape, data: firstTangent.data)
        case .concat(let axis):
            return try ShapeOps.concat(try (0..<inputs.count).map(tangent), axis: axis)
        case .gemm(let alpha, _, let ta, let tb):
            guard tangents.count < 2 || tangents[1] == nil else { throw unsupported("with a computed right operand") }
            guard !ta else { throw unsupported("with transA") }
            return try Linear.gemmForward(firstTangent, try input(1), nil, alpha: alpha, beta: 0, transA: false, transB: tb)
        case .matMul:
            let ta = tangents.first ?? nil, tb = tangents.count > 1 ? tangents[1] : nil
            return try MatMulND.tangent(try input(0), try input(1), output: output, tangentA: ta, tangentB: tb, tile: t)
        case .pointwise, .power, .rearrange, .layerNormalization:
            return try jacobianVectorModern(x: try input(0), output: output, tangent: firstTangent, tile: t)
        }
    }
}
