import Core

/// VJP and JVP of NumPy matmul when both operands may be computed and batched (`[..., M, K] ×
/// [..., K, N]` with broadcast batch axes, 1-D operands promoted), e.g. attention-like products.
/// `Linear.matMulBackward` keeps the faster path for a constant 2-D right operand.
enum MatMulND {
    /// `v` tiled T times along axis 0 when it carries the batch (`rank` and axis 0 of the output).
    static func tiledOperand(_ v: Tensor, outputShape: [Int], tile t: Int) -> Tensor {
        t > 1 && v.rank == outputShape.count && v.shape.first == outputShape.first ? Buffers.tile(v, times: t) : v
    }

    /// Per broadcast batch entry: the `[M, N]` block of `c += op(a_i) · op(b_i)`, as batched GEMMs.
    private static func batchedGEMM(_ a: Tensor, _ b: Tensor, transA: Bool, transB: Bool,
                                    m: Int, n: Int, k: Int, batchA: [Int], batchB: [Int]) throws -> ([Int], [Float]) {
        let batch = try Broadcast.shape(batchA, batchB)
        let count = Tensor.elementCount(batch)
        var offA = [Int](repeating: 0, count: count), offB = offA
        let sizeA = m * k, sizeB = k * n
        Broadcast.forEachRow(batch, batchA, batchB) { oo, oa, ob, len, da, db in
            for i in 0..<len { offA[oo + i] = (oa + i * da) * sizeA; offB[oo + i] = (ob + i * db) * sizeB }
        }
        var out = [Float](repeating: 0, count: count * m * n)
        a.data.withUnsafeBufferPointer { pa in
            b.data.withUnsafeBufferPointer { pb in
                out.withUnsafeMutableBufferPointer { po in
                    for i in 0..<count {
                        Linear.sgemm(transA, transB, m, n, k, 1, pa.baseAddress! + offA[i], transA ? m : k,
                                     pb.baseAddress! + offB[i], transB ? k : n, 0, po.baseAddress! + i * m * n, n)
                    }
                }
            }
        }
        return (batch, out)
    }

    /// Cotangents of A and B (flagged in `needs`) from `grad` of the tiled output shape.
    static func backward(_ a0: Tensor, _ b0: Tensor, output: Tensor, grad: Tensor, tile t: Int, needs: [Bool]) throws -> [Tensor?] {
        let a = tiledOperand(a0, outputShape: output.shape, tile: t), b = tiledOperand(b0, outputShape: output.shape, tile: t)
        let sa = a.rank == 1 ? [1] + a.shape : a.shape, sb = b.rank == 1 ? b.shape + [1] : b.shape
        let (m, k, n) = (sa[sa.count - 2], sa[sa.count - 1], sb[sb.count - 1])
        let batchA = Array(sa.dropLast(2)), batchB = Array(sb.dropLast(2))
        let batch = try Broadcast.shape(batchA, batchB)
        let g = Tensor(uncheckedShape: batch + [m, n], data: grad.data)
        var result: [Tensor?] = [nil, nil]
        if needs[0] {   // dA_i = G_i · B_iᵀ, summed over A's broadcast axes
            let (shape, data) = try batchedGEMM(g, b, transA: false, transB: true, m: m, n: k, k: n, batchA: batch, batchB: batchB)
            let full = Tensor(uncheckedShape: shape + [m, k], data: data)
            result[0] = Tensor(uncheckedShape: a.shape, data: Broadcast.reduce(full, to: sa).data)
        }
        if needs.count > 1 && needs[1] {   // dB_i = A_iᵀ · G_i
            let (shape, data) = try batchedGEMM(a, g, transA: true, transB: false, m: k, n: n, k: m, batchA: batchA, batchB: batch)
            let full = Tensor(uncheckedShape: shape + [k, n], data: data)
            result[1] = Tensor(uncheckedShape: b.shape, data: Broadcast.reduce(full, to: sb).data)
        }
        return result
    }

    /// `dA · B + A · dB` (absent tangents are zero) on the tiled shapes.
    static func tangent(_ a0: Tensor, _ b0: Tensor, output: Tensor, tangentA: Tensor?, tangentB: Tensor?, tile t: Int) throws -> Tensor? {
        let a = tiledOperand(a0, outputShape: output.shape, tile: t), b = tiledOperand(b0, outputShape: output.shape, tile: t)
        var sum: Tensor? = nil
        if let da = tangentA { sum = try Linear.matMulForward(da, b) }
        if let db = tangentB {
            let part = try Linear.matMulForward(a, db)
            sum = try sum.map { try Broadcast.forward(.add, $0, part) } ?? part
        }
        return sum
    }
}
