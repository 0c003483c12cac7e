import COpenBLAS
import Core

/// Non-negative matrix factorisation P ≈ U V (METHOD §3, CRAFT-style), U ∈ R₊^{N×K}, V ∈ R₊^{K×C},
/// minimising ½‖P − UV‖²_F: NNDSVD initialisation from a LAPACK SVD, then HALS — alternating
/// exact coordinate sweeps over U (Gram VVᵀ, linear term PVᵀ) and V (Gram UᵀU, linear term PᵀU),
/// the same updates and stopping rule as scikit-learn `NMF(solver='cd', init='nndsvd')`.
public enum NMF {
    /// The factorisation and its trace.
    public struct Result: Sendable {
        /// U, N×K, ≥ 0.
        public var codes: Matrix
        /// V, K×C, ≥ 0 (rows not normalised).
        public var components: Matrix
        /// ½‖P − UV‖²_F after NNDSVD (index 0) and after every HALS iteration, from the Gram terms.
        public var lossHistory: [Double]
        /// HALS iterations run.
        public var iterations: Int
        /// ‖P − UV‖_F at the end, measured directly (scikit-learn `reconstruction_err_`).
        public var reconstructionError: Double
    }

    /// Factorises `pfvs` (N×C, all ≥ 0) with `k` ≤ min(N, C) components.
    /// `progress(iteration, cap)` is called after every HALS iteration. `targetLoss` (benchmarks:
    /// time to reach a peer's objective) also stops as soon as ½‖P − UV‖²_F ≤ targetLoss.
    public static func fit(
        _ pfvs: Matrix, k: Int, options: ConceptOptions, targetLoss: Double? = nil,
        progress: ((_ done: Int, _ total: Int) -> Void)? = nil
    ) throws -> Result {
        let n = pfvs.rows, c = pfvs.cols
        guard k >= 1, k <= min(n, c) else {
            throw ConceptError.invalidRequest("NMF: K = \(k) must be between 1 and min(PFVs, channels) = \(min(n, c))")
        }
        if let bad = pfvs.data.firstIndex(where: { !($0 >= 0) }) {
            throw ConceptError.invalidPFVs(
                "NMF needs non-negative PFVs; PFV \(bad / c) channel \(bad % c) is \(pfvs.data[bad]) (use pca, or sample after a ReLU)")
        }
        var (u, vt) = try nndsvd(pfvs, k: k)
        return pfvs.data.withUnsafeBufferPointer { pp in
            let p = pp.baseAddress!
            let normP2 = Linalg.sumSquaredDeviation(p, rows: n, cols: c, from: nil)
            var vvt = vt.withUnsafeBufferPointer { Linalg.gramOfColumns($0.baseAddress!, rows: c, cols: k) }
            var history: [Double] = []
            // Loss before the first iteration.
            do {
                let utu = u.withUnsafeBufferPointer { Linalg.gramOfColumns($0.baseAddress!, rows: n, cols: k) }
                let ptu = product(p, transA: true, u, m: c, n: k, k: n)
                history.append(loss(normP2: normP2, ptu: ptu, vt: vt, utu: utu, vvt: vvt))
            }
            var linearU = [Float](repeating: 0, count: n * k)
            var initialViolation = 0.0
            var iterations = 0
            for iteration in 1...max(1, options.nmfMaxIterations) {
                iterations = iteration
                // U ← HALS sweep with Gram VVᵀ and linear term P Vᵀ.
                linearU.withUnsafeMutableBufferPointer { pl in
                    vt.withUnsafeBufferPointer { pv in
                        Linalg.gemm(p, transA: false, pv.baseAddress!, transB: false, pl.baseAddress!, m: n, n: k, k: c)
                    }
                }
                var violation = u.withUnsafeMutableBufferPointer { pu in
                    CoordinateDescent.solve(gram: vvt, linear: linearU, codes: pu.baseAddress!, codesAreZero: false,
                                            rows: n, k: k, lambdas: nil, nonNegative: true, maxSweeps: 1,
                                            tolerance: 0, threads: options.threads)
                }
                // V ← HALS sweep with Gram UᵀU and linear term PᵀU (V stored transposed, C×K).
                let utu = u.withUnsafeBufferPointer { Linalg.gramOfColumns($0.baseAddress!, rows: n, cols: k) }
                let ptu = product(p, transA: true, u, m: c, n: k, k: n)
                violation += vt.withUnsafeMutableBufferPointer { pv in
                    CoordinateDescent.solve(gram: utu, linear: ptu, codes: pv.baseAddress!, codesAreZero: false,
                                            rows: c, k: k, lambdas: nil, nonNegative: true, maxSweeps: 1,
                                            tolerance: 0, threads: options.threads)
                }
                vvt = vt.withUnsafeBufferPointer { Linalg.gramOfColumns($0.baseAddress!, rows: c, cols: k) }
                history.append(loss(normP2: normP2, ptu: ptu, vt: vt, utu: utu, vvt: vvt))
                progress?(iteration, options.nmfMaxIterations)
                if iteration == 1 { initialViolation = violation }
                if initialViolation == 0 || violation / initialViolation <= options.nmfTolerance { break }
                if let targetLoss, history[history.count - 1] <= targetLoss { break }
            }
            let v = Matrix(uncheckedRows: c, cols: k, data: vt).transposed
            let codes = Matrix(uncheckedRows: n, cols: k, data: u)
            let residual = codes.data.withUnsafeBufferPointer { pu in
                v.data.withUnsafeBufferPointer { pv in
                    Linalg.residualSquared(p, codes: pu.baseAddress!, basis: pv.baseAddress!, rows: n, cols: c, k: k, mean: nil)
                }
            }
            return Result(codes: codes, components: v, lossHistory: history, iterations: iterations,
                          reconstructionError: residual.squareRoot())
        }
    }

    /// ½‖P − UV‖² = ½(‖P‖² − 2⟨PᵀU, Vᵀ⟩ + ⟨UᵀU, VVᵀ⟩), accumulated in Double.
    private static func loss(normP2: Double, ptu: [Float], vt: [Float], utu: [Float], vvt: [Float]) -> Double {
        var cross = 0.0, quad = 0.0
        for i in 0..<ptu.count { cross += Double(ptu[i]) * Double(vt[i]) }
        for i in 0..<utu.count { quad += Double(utu[i]) * Double(vvt[i]) }
        return max(0, 0.5 * (normP2 - 2 * cross + quad))
    }

    /// op(A)·B for raw row-major buffers: (transA ? Aᵀ : A) is m×k, B is k×n.
    private static func product(_ a: UnsafePointer<Float>, transA: Bool, _ b: [Float], m: Int, n: Int, k: Int) -> [Float] {
        var out = [Float](repeating: 0, count: m * n)
        b.withUnsafeBufferPointer { pb in
            out.withUnsafeMutableBufferPointer { po in
                Linalg.gemm(a, transA: transA, pb.baseAddress!, transB: false, po.baseAddress!, m: m, n: n, k: k)
            }
        }
        return out
    }

    /// NNDSVD (Boutsidis & Gallopoulos 2008) as scikit-learn's `init='nndsvd'`: U (N×K) and Vᵀ (C×K),
    /// entries below 1e-6 set to zero. Singular pairs come from `Linalg.topRightSingular`.
    static func nndsvd(_ pfvs: Matrix, k: Int) throws -> (u: [Float], vt: [Float]) {
        let n = pfvs.rows, c = pfvs.cols
        let (sigmaD, dirs, _) = try pfvs.data.withUnsafeBufferPointer {
            try Linalg.topRightSingular($0.baseAddress!, rows: n, cols: c, mean: nil, k: k)
        }
        let sigma = sigmaD.map { Float($0) }
        // Left singular vectors: P vⱼ / σⱼ.
        var left = Linalg.product(pfvs, dirs, transB: true)
        for j in 0..<k {
            let scale: Float = sigma[j] > 0 ? 1 / sigma[j] : 0
            for i in 0..<n { left.data[i * k + j] *= scale }
        }
        var u = [Float](repeating: 0, count: n * k)
        var vt = [Float](repeating: 0, count: c * k)
        for j in 0..<k {
            let x = (0..<n).map { left.data[$0 * k + j] }
            let y = Array(dirs.data[(j * c)..<((j + 1) * c)])
            let (ux, vy): ([Float], [Float])
            let weight: Float
            if j == 0 {
                ux = x.map(abs); vy = y.map(abs)
                weight = sigma[0].squareRoot()
            } else {
                let xp = x.map { max($0, 0) }, xn = x.map { max(-$0, 0) }
                let yp = y.map { max($0, 0) }, yn = y.map { max(-$0, 0) }
                let nxp = cblas_snrm2(Int32(n), xp, 1), nxn = cblas_snrm2(Int32(n), xn, 1)
                let nyp = cblas_snrm2(Int32(c), yp, 1), nyn = cblas_snrm2(Int32(c), yn, 1)
                let mp = nxp * nyp, mn = nxn * nyn
                if mp > mn {
                    ux = xp.map { nxp > 0 ? $0 / nxp : 0 }; vy = yp.map { nyp > 0 ? $0 / nyp : 0 }
                    weight = (sigma[j] * mp).squareRoot()
                } else {
                    ux = xn.map { nxn > 0 ? $0 / nxn : 0 }; vy = yn.map { nyn > 0 ? $0 / nyn : 0 }
                    weight = (sigma[j] * mn).squareRoot()
                }
            }
            for i in 0..<n { let v = weight * ux[i]; u[i * k + j] = v < 1e-6 ? 0 : v }
            for i in 0..<c { let v = weight * vy[i]; vt[i * k + j] = v < 1e-6 ? 0 : v }
        }
        return (u, vt)
    }
}
