import Core
import Dispatch

/// Batched coordinate descent for many independent problems sharing one Gram matrix G (K×K):
///
///   u_i = argmin ½ uᵀG u − b_iᵀu + λ_i ‖u‖₁   (u ≥ 0 when `nonNegative`)
///
/// which is the Lasso ½‖x − Vᵀu‖² + λ‖u‖₁ with G = VVᵀ, b = Vx, and (λ = 0, one sweep) a HALS
/// step of NMF. Each problem keeps its gradient residual r = b − G u, so a coordinate update
/// costs O(1) plus one saxpy of a row of G when the coordinate actually moves.
enum CoordinateDescent {
    /// Active-set sweeps between two full sweeps.
    static let activeSweeps = 10

    /// Runs up to `maxSweeps` full sweeps (see `sweepRow`) over the K coordinates of every row of `codes`
    /// (rows×k, row-major, warm start; `codesAreZero` skips forming the initial residual), stopping a
    /// row early when its largest change is ≤ `tolerance` · its largest |u|. `lambdas` holds one λ per
    /// row (nil: no penalty). Rows are split over `threads` workers.
    /// Returns the sum over rows and coordinates of |projected gradient| met before each update
    /// (scikit-learn's `violation`, used as NMF stopping rule).
    @discardableResult
    static func solve(
        gram: [Float], linear: UnsafePointer<Float>, codes: UnsafeMutablePointer<Float>, codesAreZero: Bool,
        rows: Int, k: Int, lambdas: [Float]?, nonNegative: Bool, maxSweeps: Int, tolerance: Float, threads: Int
    ) -> Double {
        guard rows > 0, k > 0 else { return 0 }
        // Residual R = B − U G (one GEMM), unless U = 0.
        let residual = UnsafeMutablePointer<Float>.allocate(capacity: rows * k)
        defer { residual.deallocate() }
        residual.update(from: linear, count: rows * k)
        if !codesAreZero {
            gram.withUnsafeBufferPointer { pg in
                Linalg.gemm(UnsafePointer(codes), transA: false, pg.baseAddress!, transB: false, residual,
                            m: rows, n: k, k: k, alpha: -1, beta: 1)
            }
        }
        let workers = max(1, min(threads, rows / 64))
        let violations = UnsafeMutablePointer<Double>.allocate(capacity: workers)
        defer { violations.deallocate() }
        violations.initialize(repeating: 0, count: workers)
        let shared = (SharedPointer(codes), SharedPointer(residual), SharedPointer(violations))
        gram.withUnsafeBufferPointer { pg in
            let g = SharedConstPointer(pg.baseAddress!)
            let work = { @Sendable (worker: Int) in
                let lo = rows * worker / workers, hi = rows * (worker + 1) / workers
                let active = UnsafeMutablePointer<Int>.allocate(capacity: k)
                defer { active.deallocate() }
                var violation = 0.0
                for row in lo..<hi {
                    let u = shared.0.base + row * k, r = shared.1.base + row * k
                    let lambda = lambdas?[row] ?? 0
                    violation += sweepRow(g.base, u: u, r: r, k: k, lambda: lambda, nonNegative: nonNegative,
                                          maxSweeps: maxSweeps, tolerance: tolerance, active: active)
                }
                shared.2.base[worker] = violation
            }
            if workers == 1 { work(0) } else { DispatchQueue.concurrentPerform(iterations: workers, execute: work) }
        }
        return (0..<workers).reduce(0) { $0 + violations[$1] }
    }

    /// Coordinate sweeps for one problem: a full sweep over all K coordinates, then up to
    /// `activeSweeps` sweeps over the non-zero ones only until they settle, then a full sweep again,
    /// until a full sweep changes nothing beyond the tolerance or `maxSweeps` full sweeps ran (the
    /// active-set strategy of glmnet). Returns the projected-gradient violation of the first sweep.
    @inline(__always)
    private static func sweepRow(
        _ g: UnsafePointer<Float>, u: UnsafeMutablePointer<Float>, r: UnsafeMutablePointer<Float>, k: Int,
        lambda: Float, nonNegative: Bool, maxSweeps: Int, tolerance: Float, active: UnsafeMutablePointer<Int>
    ) -> Double {
        var firstViolation = 0.0
        var sweeps = 0
        // One coordinate update; returns |change| and accumulates the violation.
        @inline(__always) func update(_ j: Int, _ violation: inout Float, _ maxU: inout Float) -> Float {
            let gjj = g[j * k + j]
            guard gjj > 0 else { return 0 }
            let uj = u[j], rj = r[j]
            let grad = lambda - rj
            violation += abs(uj > 0 || !nonNegative ? grad : min(0, grad))
            let new: Float
            if nonNegative {
                new = max(0, uj + (rj - lambda) / gjj)
            } else {
                let z = uj * gjj + rj
                new = z > lambda ? (z - lambda) / gjj : (z < -lambda ? (z + lambda) / gjj : 0)
            }
            maxU = max(maxU, abs(new))
            let delta = new - uj
            if delta != 0 {
                u[j] = new
                // r −= δ·G_j, a plain loop: with K ≈ 16 a BLAS call costs more than the update
                // (its call and dispatch were a third of `evaluate`'s coding time).
                let column = g + j * k
                for i in 0..<k { r[i] -= delta * column[i] }
            }
            return abs(delta)
        }
        while sweeps < maxSweeps {
            // Full sweep.
            var maxDelta: Float = 0, maxU: Float = 0, violation: Float = 0
            var count = 0
            for j in 0..<k {
                maxDelta = max(maxDelta, update(j, &violation, &maxU))
                if u[j] != 0 { active[count] = j; count += 1 }
            }
            if sweeps == 0 { firstViolation = Double(violation) }
            sweeps += 1
            if maxDelta <= tolerance * maxU || sweeps == maxSweeps { break }
            // Up to `activeSweeps` cheap sweeps over the active set, until it settles.
            for _ in 0..<activeSweeps {
                var innerDelta: Float = 0, innerU: Float = 0, ignored: Float = 0
                for a in 0..<count { innerDelta = max(innerDelta, update(active[a], &ignored, &innerU)) }
                if innerDelta <= tolerance * innerU { break }
            }
        }
        return firstViolation
    }
}
