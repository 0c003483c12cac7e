import COpenBLAS

/// Thin wrappers over OpenBLAS / LAPACKE for the concept learners. All matrices row-major.
enum Linalg {
    /// C (m×n) = alpha · op(A) · op(B) + beta · C, with op(A) m×k and op(B) k×n.
    static func gemm(
        _ a: UnsafePointer<Float>, transA: Bool, _ b: UnsafePointer<Float>, transB: Bool,
        _ c: UnsafeMutablePointer<Float>, m: Int, n: Int, k: Int, alpha: Float = 1, beta: Float = 0
    ) {
        guard m > 0, n > 0 else { return }
        if k == 0 {
            if beta == 0 { c.update(repeating: 0, count: m * n) } else { cblas_sscal(Int32(m * n), beta, c, 1) }
            return
        }
        cblas_sgemm(
            CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), alpha, a, Int32(transA ? m : k), b, Int32(transB ? k : n),
            beta, c, Int32(n))
    }

    /// op(A) · op(B) for matrices.
    static func product(_ a: Matrix, transA: Bool = false, _ b: Matrix, transB: Bool = false) -> Matrix {
        let m = transA ? a.cols : a.rows, k = transA ? a.rows : a.cols
        let n = transB ? b.rows : b.cols
        assert(k == (transB ? b.cols : b.rows))
        var c = Matrix(rows: m, cols: n)
        a.data.withUnsafeBufferPointer { pa in
            b.data.withUnsafeBufferPointer { pb in
                c.data.withUnsafeMutableBufferPointer { pc in
                    gemm(pa.baseAddress!, transA: transA, pb.baseAddress!, transB: transB, pc.baseAddress!,
                         m: m, n: n, k: k)
                }
            }
        }
        return c
    }

    /// The full symmetric Gram matrix AᵀA (cols×cols) of A (rows×cols) by ssyrk, both triangles filled.
    static func gramOfColumns(_ a: UnsafePointer<Float>, rows: Int, cols: Int) -> [Float] {
        var g = [Float](repeating: 0, count: cols * cols)
        guard rows > 0, cols > 0 else { return g }
        g.withUnsafeMutableBufferPointer { pg in
            cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, Int32(cols), Int32(rows), 1, a, Int32(cols),
                        0, pg.baseAddress!, Int32(cols))
        }
        symmetrizeUpper(&g, n: cols)
        return g
    }

    /// The full symmetric Gram matrix AAᵀ (rows×rows) of A (rows×cols).
    static func gramOfRows(_ a: UnsafePointer<Float>, rows: Int, cols: Int) -> [Float] {
        var g = [Float](repeating: 0, count: rows * rows)
        guard rows > 0, cols > 0 else { return g }
        g.withUnsafeMutableBufferPointer { pg in
            cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, Int32(rows), Int32(cols), 1, a, Int32(cols),
                        0, pg.baseAddress!, Int32(rows))
        }
        symmetrizeUpper(&g, n: rows)
        return g
    }

    /// Copies the upper triangle of a row-major n×n matrix onto its lower triangle.
    static func symmetrizeUpper(_ g: inout [Float], n: Int) {
        for i in 0..<n { for j in 0..<i { g[i * n + j] = g[j * n + i] } }
    }

    /// Σ_i ‖x_i − μ‖² over the rows of X (rows×cols), exact (no ‖x‖² − ‖μ‖² cancellation):
    /// chunks of rows are copied, shifted by a rank-1 update and measured with snrm2.
    /// `mu == nil` measures Σ‖x_i‖².
    static func sumSquaredDeviation(_ x: UnsafePointer<Float>, rows: Int, cols: Int, from mu: [Float]?) -> Double {
        guard rows > 0, cols > 0 else { return 0 }
        let chunk = max(1, 8192 / max(1, cols / 64))
        var buffer = [Float](repeating: 0, count: min(rows, chunk) * cols)
        let ones = [Float](repeating: 1, count: min(rows, chunk))
        var total = 0.0
        var start = 0
        while start < rows {
            let n = min(chunk, rows - start)
            buffer.withUnsafeMutableBufferPointer { pb in
                let b = pb.baseAddress!
                b.update(from: x + start * cols, count: n * cols)
                if let mu {
                    cblas_sger(CblasRowMajor, Int32(n), Int32(cols), -1, ones, 1, mu, 1, b, Int32(cols))
                }
                let norm = Double(cblas_snrm2(Int32(n * cols), b, 1))
                total += norm * norm
            }
            start += n
        }
        return total
    }

    /// Σ_i ‖x_i − (μ + Vᵀu_i)‖² for X (rows×cols), codes U (rows×k), basis V (k×cols), exact in chunks:
    /// each chunk is copied and updated by one sgemm (and a rank-1 update for μ), then measured.
    static func residualSquared(
        _ x: UnsafePointer<Float>, codes: UnsafePointer<Float>, basis: UnsafePointer<Float>,
        rows: Int, cols: Int, k: Int, mean mu: [Float]?
    ) -> Double {
        guard rows > 0, cols > 0 else { return 0 }
        let chunk = 2048
        var buffer = [Float](repeating: 0, count: min(rows, chunk) * cols)
        let ones = [Float](repeating: 1, count: min(rows, chunk))
        var total = 0.0
        var start = 0
        while start < rows {
            let n = min(chunk, rows - start)
            buffer.withUnsafeMutableBufferPointer { pb in
                let b = pb.baseAddress!
                b.update(from: x + start * cols, count: n * cols)
                gemm(codes + start * k, transA: false, basis, transB: false, b, m: n, n: cols, k: k, alpha: -1, beta: 1)
                if let mu { cblas_sger(CblasRowMajor, Int32(n), Int32(cols), -1, ones, 1, mu, 1, b, Int32(cols)) }
                let norm = Double(cblas_snrm2(Int32(n * cols), b, 1))
                total += norm * norm
            }
            start += n
        }
        return total
    }

    /// Column means of X (rows×cols) by one sgemv.
    static func columnMeans(_ x: UnsafePointer<Float>, rows: Int, cols: Int) -> [Float] {
        var mean = [Float](repeating: 0, count: cols)
        guard rows > 0 else { return mean }
        let ones = [Float](repeating: 1, count: rows)
        cblas_sgemv(CblasRowMajor, CblasTrans, Int32(rows), Int32(cols), 1 / Float(rows), x, Int32(cols),
                    ones, 1, 0, &mean, 1)
        return mean
    }

    /// Squared Euclidean norm of every row of X (rows×cols), in Double.
    static func rowSquaredNorms(_ x: UnsafePointer<Float>, rows: Int, cols: Int) -> [Double] {
        (0..<rows).map { r in
            let v = Double(cblas_snrm2(Int32(cols), x + r * cols, 1))
            return v * v
        }
    }

    /// Eigen-decomposition of a symmetric n×n matrix (row-major) by LAPACK dsyevd, in Double.
    /// Returns eigenvalues in DESCENDING order and the matching eigenvectors as rows.
    static func symmetricEigen(_ a: [Double], n: Int) throws -> (values: [Double], vectors: [Double]) {
        var w = a
        var values = [Double](repeating: 0, count: n)
        let info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "V")), Int8(UInt8(ascii: "U")),
                                  Int32(n), &w, Int32(n), &values)
        guard info == 0 else { throw CNNError.invalidInput("LAPACK dsyevd failed (info \(info)) on a \(n)×\(n) matrix") }
        // Columns of w are eigenvectors, ascending; return rows, descending.
        var vectors = [Double](repeating: 0, count: n * n)
        for j in 0..<n {
            let src = n - 1 - j
            for i in 0..<n { vectors[j * n + i] = w[i * n + src] }
        }
        return (values.reversed(), vectors)
    }

    /// Singular values (descending) and right singular vectors (rows of Vᵀ, min(m,n)×n) of the
    /// m×n row-major matrix A by LAPACK sgesdd. `a` is destroyed.
    static func rightSingular(_ a: inout [Float], m: Int, n: Int) throws -> (values: [Float], vt: [Float]) {
        let r = min(m, n)
        var s = [Float](repeating: 0, count: r)
        var u = [Float](repeating: 0, count: m * r)
        var vt = [Float](repeating: 0, count: r * n)
        let info = LAPACKE_sgesdd(LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "S")), Int32(m), Int32(n), &a, Int32(n),
                                  &s, &u, Int32(r), &vt, Int32(n))
        guard info == 0 else { throw CNNError.invalidInput("LAPACK sgesdd failed (info \(info)) on a \(m)×\(n) matrix") }
        return (s, vt)
    }

    /// Top-`k` right singular directions of X − 1μᵀ (rows×cols) (μ = nil: of X itself) and their
    /// singular values σ (descending). With rows ≥ 2·cols the centred Gram matrix is formed in chunks
    /// by ssyrk and solved by dsyevd; otherwise sgesdd runs on the centred copy. Signs are fixed as
    /// scikit-learn's `svd_flip(u_based_decision=False)`: the largest-|·| entry of each direction is > 0.
    /// `sumOfSquares` is ‖X − 1μᵀ‖²_F (trace of the Gram matrix, or Σ of all σ²).
    static func topRightSingular(
        _ x: UnsafePointer<Float>, rows: Int, cols: Int, mean mu: [Float]?, k: Int
    ) throws -> (sigma: [Double], directions: Matrix, sumOfSquares: Double) {
        var sigma = [Double](repeating: 0, count: k)
        var dirs = Matrix(rows: k, cols: cols)
        var sumOfSquares = 0.0
        if rows >= 2 * cols {
            var gram = [Float](repeating: 0, count: cols * cols)
            let chunk = max(1, 4096)
            var buffer = [Float](repeating: 0, count: min(rows, chunk) * cols)
            let ones = [Float](repeating: 1, count: min(rows, chunk))
            var start = 0
            while start < rows {
                let n = min(chunk, rows - start)
                buffer.withUnsafeMutableBufferPointer { pb in
                    let b = pb.baseAddress!
                    b.update(from: x + start * cols, count: n * cols)
                    if let mu { cblas_sger(CblasRowMajor, Int32(n), Int32(cols), -1, ones, 1, mu, 1, b, Int32(cols)) }
                    gram.withUnsafeMutableBufferPointer { pg in
                        cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, Int32(cols), Int32(n), 1, b, Int32(cols),
                                    1, pg.baseAddress!, Int32(cols))
                    }
                }
                start += n
            }
            symmetrizeUpper(&gram, n: cols)
            for i in 0..<cols { sumOfSquares += Double(gram[i * cols + i]) }
            let (values, vectors) = try symmetricEigen(gram.map(Double.init), n: cols)
            for j in 0..<k {
                sigma[j] = max(0, values[j]).squareRoot()
                for i in 0..<cols { dirs.data[j * cols + i] = Float(vectors[j * cols + i]) }
            }
        } else {
            var a = Array(UnsafeBufferPointer(start: x, count: rows * cols))
            if let mu { for r in 0..<rows { for c in 0..<cols { a[r * cols + c] -= mu[c] } } }
            let (s, vt) = try rightSingular(&a, m: rows, n: cols)
            sumOfSquares = s.reduce(0.0) { $0 + Double($1) * Double($1) }
            for j in 0..<k {
                sigma[j] = Double(s[j])
                for i in 0..<cols { dirs.data[j * cols + i] = vt[j * cols + i] }
            }
        }
        for j in 0..<k {
            let rowStart = j * cols
            var best = 0
            for i in 0..<cols where abs(dirs.data[rowStart + i]) > abs(dirs.data[rowStart + best]) { best = i }
            if dirs.data[rowStart + best] < 0 { for i in 0..<cols { dirs.data[rowStart + i] = -dirs.data[rowStart + i] } }
        }
        return (sigma, dirs, sumOfSquares)
    }
}

/// A pointer that may cross into `concurrentPerform` workers; each worker touches disjoint rows.
struct SharedPointer<T>: @unchecked Sendable {
    let base: UnsafeMutablePointer<T>
}
