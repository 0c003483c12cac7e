import COpenBLAS
import Core

/// Gemm and MatMul through `cblas_sgemm`, forward and VJPs.
enum Linear {
    /// `C[m×n] = alpha · op(A) op(B) + beta · C`, row-major.
    @inline(__always)
    static func sgemm(_ ta: Bool, _ tb: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
                      _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
                      _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
        if m == 0 || n == 0 { return }
        cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(max(1, lda)), b, Int32(max(1, ldb)),
                    beta, c, Int32(max(1, ldc)))
    }

    static func gemmForward(_ a: Tensor, _ b: Tensor, _ c: Tensor?, alpha: Float, beta: Float,
                            transA: Bool, transB: Bool) throws -> Tensor {
        guard a.rank == 2, b.rank == 2 else {
            throw ModelError.shapeMismatch("Gemm needs 2-D operands, got \(a.shape) and \(b.shape)")
        }
        let (m, k) = transA ? (a.shape[1], a.shape[0]) : (a.shape[0], a.shape[1])
        let (kb, n) = transB ? (b.shape[1], b.shape[0]) : (b.shape[0], b.shape[1])
        guard k == kb else { throw ModelError.shapeMismatch("Gemm operands \(a.shape) and \(b.shape) (transA \(transA), transB \(transB))") }
        var out: [Float]
        var betaUsed: Float = 0
        if let c, beta != 0 {
            out = try Broadcast.forward(.add, Tensor(shape: [m, n]), c).data
            guard out.count == m * n else { throw ModelError.shapeMismatch("Gemm bias \(c.shape) does not broadcast to [\(m), \(n)]") }
            betaUsed = beta
        } else {
            out = [Float](repeating: 0, count: m * n)
        }
        a.data.withUnsafeBufferPointer { pa in
            b.data.withUnsafeBufferPointer { pb in
                out.withUnsafeMutableBufferPointer { po in
                    sgemm(transA, transB, m, n, k, alpha, pa.baseAddress!, a.shape[1], pb.baseAddress!, b.shape[1],
                          betaUsed, po.baseAddress!, n)
                }
            }
        }
        return Tensor(uncheckedShape: [m, n], data: out)
    }

    /// VJPs of Gemm for the inputs flagged in `needs` (A, B, C). Cotangent rows beyond the
    /// forward's M (batched targets, `tile > 1`) are supported for A only.
    static func gemmBackward(_ a: Tensor, _ b: Tensor, _ c: Tensor?, alpha: Float, beta: Float,
                             transA: Bool, transB: Bool, grad: Tensor, tile t: Int, needs: [Bool]) throws -> [Tensor?] {
        let rows = grad.shape[0], n = grad.shape[1]
        let k = transA ? a.shape[0] : a.shape[1]
        var result: [Tensor?] = [nil, nil, nil]
        if needs[0] {
            guard !transA || t == 1 else { throw ModelError.unsupported("Gemm with transA: batched cotangents not supported") }
            var da = [Float](repeating: 0, count: rows * k)
            grad.data.withUnsafeBufferPointer { pg in
                b.data.withUnsafeBufferPointer { pb in
                    da.withUnsafeMutableBufferPointer { pd in
                        if transA {  // A is [K, M]: dA = alpha · op(B) · dYᵀ
                            sgemm(transB, true, k, rows, n, alpha, pb.baseAddress!, b.shape[1], pg.baseAddress!, n, 0, pd.baseAddress!, rows)
                        } else {     // dA = alpha · dY · op(B)ᵀ
                            sgemm(false, !transB, rows, k, n, alpha, pg.baseAddress!, n, pb.baseAddress!, b.shape[1], 0, pd.baseAddress!, k)
                        }
                    }
                }
            }
            result[0] = Tensor(uncheckedShape: transA ? [k, rows] : [rows, k], data: da)
        }
        if needs.count > 1 && needs[1] {
            guard t == 1 else { throw ModelError.unsupported("Gemm: batched cotangents for the B operand not supported") }
            var db = [Float](repeating: 0, count: b.count)
            a.data.withUnsafeBufferPointer { pa in
                grad.data.withUnsafeBufferPointer { pg in
                    db.withUnsafeMutableBufferPointer { pd in
                        if transB {  // B is [N, K]: dB = alpha · dYᵀ · op(A)
                            sgemm(true, transA, n, k, rows, alpha, pg.baseAddress!, n, pa.baseAddress!, a.shape[1], 0, pd.baseAddress!, k)
                        } else {     // dB = alpha · op(A)ᵀ · dY
                            sgemm(!transA, false, k, n, rows, alpha, pa.baseAddress!, a.shape[1], pg.baseAddress!, n, 0, pd.baseAddress!, n)
                        }
                    }
                }
            }
            result[1] = Tensor(uncheckedShape: b.shape, data: db)
        }
        if needs.count > 2 && needs[2], let c {
            guard t == 1 || c.rank < 2 || c.shape[0] == 1 else {
                throw ModelError.unsupported("Gemm: batched cotangents for a per-row C not supported")
            }
            result[2] = Broadcast.reduce(grad, to: c.shape, scale: beta)
        }
        return result
    }

    /// NumPy matmul: `[..., M, K] × [..., K, N]` with broadcast leading axes; 1-D operands promoted.
    static func matMulForward(_ a: Tensor, _ b: Tensor) throws -> Tensor {
        guard a.rank >= 1, b.rank >= 1 else { throw ModelError.shapeMismatch("MatMul of scalars \(a.shape), \(b.shape)") }
        let sa = a.rank == 1 ? [1] + a.shape : a.shape
        let sb = b.rank == 1 ? b.shape + [1] : b.shape
        let (m, k) = (sa[sa.count - 2], sa[sa.count - 1])
        let (kb, n) = (sb[sb.count - 2], sb[sb.count - 1])
        guard k == kb else { throw ModelError.shapeMismatch("MatMul operands \(a.shape) and \(b.shape)") }
        let batchA = Array(sa.dropLast(2)), batchB = Array(sb.dropLast(2))
        let batch = try Broadcast.shape(batchA, batchB)
        let count = Tensor.elementCount(batch)
        // Offsets of each broadcast batch entry into A and B (via an index tensor trick).
        var offA = [Int](repeating: 0, count: count), offB = [Int](repeating: 0, count: count)
        Broadcast.forEachRow(batch, batchA, batchB) { oo, oa, ob, len, da, db in
            for i in 0..<len { offA[oo + i] = (oa + i * da) * m * k; offB[oo + i] = (ob + i * db) * k * n }
        }
        var out = [Float](repeating: 0, count: count * m * n)
        a.data.withUnsafeBufferPointer { pa in
            b.data.withUnsafeBufferPointer { pb in
                out.withUnsafeMutableBufferPointer { po in
                    for i in 0..<count {
                        sgemm(false, false, m, n, k, 1, pa.baseAddress! + offA[i], k, pb.baseAddress! + offB[i], n,
                              0, po.baseAddress! + i * m * n, n)
                    }
                }
            }
        }
        var shape = batch
        if a.rank > 1 { shape.append(m) }
        if b.rank > 1 { shape.append(n) }
        return Tensor(uncheckedShape: shape, data: out)
    }

    /// VJP of MatMul w.r.t. A for a 2-D right operand `B [K, N]` (any number of cotangent rows),
    /// and w.r.t. B for a 2-D A when cotangents are not batched.
    static func matMulBackward(_ a: Tensor, _ b: Tensor, grad: Tensor, tile t: Int, needs: [Bool]) throws -> [Tensor?] {
        guard a.rank >= 2, b.rank == 2 else {
            throw ModelError.invalidModel("MatMul backward supports [..., M, K] × [K, N] only, got \(a.shape) × \(b.shape)")
        }
        let k = b.shape[0], n = b.shape[1]
        let rows = grad.count / max(1, n)
        var result: [Tensor?] = [nil, nil]
        if needs[0] {
            var da = [Float](repeating: 0, count: rows * k)
            grad.data.withUnsafeBufferPointer { pg in
                b.data.withUnsafeBufferPointer { pb in
                    da.withUnsafeMutableBufferPointer { pd in
                        sgemm(false, true, rows, k, n, 1, pg.baseAddress!, n, pb.baseAddress!, n, 0, pd.baseAddress!, k)
                    }
                }
            }
            var s = a.shape
            s[0] *= t
            result[0] = Tensor(uncheckedShape: s, data: da)
        }
        if needs[1] {
            guard t == 1 else { throw ModelError.unsupported("MatMul: batched cotangents for the right operand not supported") }
            let m = a.count / k
            var db = [Float](repeating: 0, count: k * n)
            a.data.withUnsafeBufferPointer { pa in
                grad.data.withUnsafeBufferPointer { pg in
                    db.withUnsafeMutableBufferPointer { pd in
                        sgemm(true, false, k, n, m, 1, pa.baseAddress!, k, pg.baseAddress!, n, 0, pd.baseAddress!, n)
                    }
                }
            }
            result[1] = Tensor(uncheckedShape: b.shape, data: db)
        }
        return result
    }
}
