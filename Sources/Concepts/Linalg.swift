import COpenBLAS
import Core

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

    /// The full symmetric Gram matrix AᵀA (cols×cols) of A (rows×cols): one ssyrk, both triangles filled.
    static func gramOfColumns(_ a: UnsafePointer<Float>, rows: Int, cols: Int) -> [Float] {
        var g = syrk(a, rows: rows, cols: cols, ofColumns: true)
        symmetrizeUpper(&g, n: cols)
        return g
    }

    /// The full symmetric Gram matrix AAᵀ (rows×rows) of A (rows×cols): one ssyrk, both triangles filled.
    static func gramOfRows(_ a: UnsafePointer<Float>, rows: Int, cols: Int) -> [Float] {
        var g = syrk(a, rows: rows, cols: cols, ofColumns: false)
        symmetrizeUpper(&g, n: rows)
        return g
    }

    /// The upper triangle of AᵀA (`ofColumns`, cols×cols) or AAᵀ (rows×rows) of A (rows×cols) by one
    /// ssyrk reading A in place; the strict lower triangle is zero.
    private static func syrk(_ a: UnsafePointer<Float>, rows: Int, cols: Int, ofColumns: Bool) -> [Float] {
        let n = ofColumns ? cols : rows, depth = ofColumns ? rows : cols
        var g = [Float](repeating: 0, count: n * n)
        guard n > 0, depth > 0 else { return g }
        g.withUnsafeMutableBufferPointer { pg in
            cblas_ssyrk(CblasRowMajor, CblasUpper, ofColumns ? CblasTrans : CblasNoTrans, Int32(n), Int32(depth), 1,
                        a, Int32(cols), 0, pg.baseAddress!, Int32(n))
        }
        return g
    }

    /// Copies the upper triangle of a row-major n×n matrix onto its lower triangle.
    static func symmetrizeUpper(_ g: inout [Float], n: Int) {
        for i in 0..<n { for j in 0..<i { g[i * n + j] = g[j * n + i] } }
    }

    /// X ← X − 1μᵀ for the `rows`×`cols` block X (one rank-1 update, sger).
    private static func subtractMean(_ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int, mean mu: [Float]) {
        let ones = [Float](repeating: 1, count: rows)
        cblas_sger(CblasRowMajor, Int32(rows), Int32(cols), -1, ones, 1, mu, 1, x, Int32(cols))
    }

    /// Σ_i ‖x_i − μ‖² over the rows of X (rows×cols), exact (no ‖x‖² − ‖μ‖² cancellation);
    /// `mu == nil` measures Σ‖x_i‖². See `residualSquared`.
    static func sumSquaredDeviation(_ x: UnsafePointer<Float>, rows: Int, cols: Int, from mu: [Float]?) -> Double {
        residualSquared(x, codes: nil, basis: nil, rows: rows, cols: cols, k: 0, mean: mu)
    }

    /// Σ_i ‖x_i − (μ + Vᵀu_i)‖² for X (rows×cols), codes U (rows×k), basis V (k×cols) (nil: no
    /// basis term; `mean` nil: μ = 0), exact in chunks of about 2 MB: each chunk is copied, updated by
    /// one sgemm and one rank-1 update, and measured with snrm2 in Double.
    static func residualSquared(
        _ x: UnsafePointer<Float>, codes: UnsafePointer<Float>?, basis: UnsafePointer<Float>?,
        rows: Int, cols: Int, k: Int, mean mu: [Float]?
    ) -> Double {
        guard rows > 0, cols > 0 else { return 0 }
        let chunk = max(1, (1 << 19) / cols)
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: min(rows, chunk) * cols)
        defer { buffer.deallocate() }
        var total = 0.0
        for start in stride(from: 0, to: rows, by: chunk) {
            let n = min(chunk, rows - start)
            buffer.update(from: x + start * cols, count: n * cols)
            if let codes, let basis {
                gemm(codes + start * k, transA: false, basis, transB: false, buffer, m: n, n: cols, k: k, alpha: -1, beta: 1)
            }
            if let mu { subtractMean(buffer, rows: n, cols: cols, mean: mu) }
            let norm = Double(cblas_snrm2(Int32(n * cols), buffer, 1))
            total += norm * norm
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

    // MARK: LAPACK

    /// A LAPACK option letter ("V", "U", …) as LAPACKE's `char`.
    private static func option(_ letter: Unicode.Scalar) -> Int8 { Int8(UInt8(ascii: letter)) }

    /// Throws the one-line error for a failed LAPACK call (`info` ≠ 0).
    private static func check(_ info: Int32, _ routine: String, rows: Int, cols: Int) throws {
        guard info == 0 else { throw ConceptError.numericalFailure("LAPACK \(routine) failed (info \(info)) on a \(rows)×\(cols) matrix") }
    }

    /// The `k` largest eigenvalues (descending) of the symmetric n×n matrix A (row-major, upper
    /// triangle read, destroyed) and their eigenvectors as rows (k×n), by LAPACK dsyevr (MRRR, only
    /// the wanted eigenpairs are computed).
    static func topEigen(_ a: inout [Double], n: Int, k: Int) throws -> (values: [Double], vectors: [Double]) {
        var found: Int32 = 0
        var w = [Double](repeating: 0, count: n)
        var z = [Double](repeating: 0, count: n * k)
        var support = [Int32](repeating: 0, count: 2 * k)
        let info = LAPACKE_dsyevr(LAPACK_ROW_MAJOR, option("V"), option("I"), option("U"), Int32(n), &a, Int32(n),
                                  0, 0, Int32(n - k + 1), Int32(n), 0, &found, &w, &z, Int32(k), &support)
        try check(info, "dsyevr", rows: n, cols: n)
        guard found == Int32(k) else {
            throw ConceptError.numericalFailure("LAPACK dsyevr found \(found) of \(k) eigenpairs of a \(n)×\(n) matrix")
        }
        // Columns of z are eigenvectors, ascending; return rows, descending.
        var values = [Double](repeating: 0, count: k)
        var vectors = [Double](repeating: 0, count: k * n)
        for j in 0..<k {
            let src = k - 1 - j
            values[j] = w[src]
            for i in 0..<n { vectors[j * n + i] = z[i * k + src] }
        }
        return (values, vectors)
    }

    /// Singular values (descending) and right singular vectors (rows of Vᵀ, min(m,n)×n) of the
    /// m×n row-major matrix A by LAPACK sgesdd. `a` is destroyed.
    static func rightSingular(_ a: inout [Float], m: Int, n: Int) throws -> (values: [Float], vt: [Float]) {
        let r = min(m, n)
        var s = [Float](repeating: 0, count: r)
        var u = [Float](repeating: 0, count: m * r)
        var vt = [Float](repeating: 0, count: r * n)
        let info = LAPACKE_sgesdd(LAPACK_ROW_MAJOR, option("S"), Int32(m), Int32(n), &a, Int32(n),
                                  &s, &u, Int32(r), &vt, Int32(n))
        try check(info, "sgesdd", rows: m, cols: n)
        return (s, vt)
    }

    /// Top-`k` right singular directions of X − 1μᵀ (rows×cols) (μ = nil: of X itself) and their
    /// singular values σ (descending). With rows ≥ 2·cols: one ssyrk of XᵀX read in place (no copy,
    /// no centring pass), G = XᵀX − N·μμᵀ in Double, and dsyevr for the top k only (scikit-learn's
    /// `covariance_eigh` route); otherwise sgesdd of the centred copy. Signs are fixed as
    /// scikit-learn's `svd_flip(u_based_decision=False)`: the largest-|·| entry of each direction is > 0.
    /// `sumOfSquares` is ‖X − 1μᵀ‖²_F (trace of G, or Σ of all σ²).
    static func topRightSingular(
        _ x: UnsafePointer<Float>, rows: Int, cols: Int, mean mu: [Float]?, k: Int
    ) throws -> (sigma: [Double], directions: Matrix, sumOfSquares: Double) {
        var sigma = [Double](repeating: 0, count: k)
        var dirs = Matrix(rows: k, cols: cols)
        var sumOfSquares = 0.0
        if rows >= 2 * cols {
            let upper = syrk(x, rows: rows, cols: cols, ofColumns: true)
            var gram = upper.map(Double.init)
            if let mu {
                let n = Double(rows)
                for i in 0..<cols {
                    let scaled = n * Double(mu[i])
                    for j in i..<cols { gram[i * cols + j] -= scaled * Double(mu[j]) }
                }
            }
            for i in 0..<cols { sumOfSquares += gram[i * cols + i] }
            let (values, vectors) = try topEigen(&gram, n: cols, k: k)
            for j in 0..<k {
                sigma[j] = max(0, values[j]).squareRoot()
                for i in 0..<cols { dirs.data[j * cols + i] = Float(vectors[j * cols + i]) }
            }
        } else {
            var a = Array(UnsafeBufferPointer(start: x, count: rows * cols))
            if let mu { a.withUnsafeMutableBufferPointer { subtractMean($0.baseAddress!, rows: rows, cols: cols, mean: mu) } }
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
