import Core

/// Non-negative least squares in Gram form, min ½ uᵀG u − bᵀu subject to u ≥ 0 (G = V_S V_Sᵀ,
/// b = V_S x: the same problem as min ½‖x − V_Sᵀu‖², u ≥ 0), solved exactly by the active-set
/// method of Lawson and Hanson ("Solving Least Squares Problems", 1974, ch. 23), in double precision.
/// This is the refit of debiased codes (METHOD §3): the Lasso picks the support S, NNLS on S removes
/// λ's shrinkage.
///
///     let u = NonNegativeLeastSquares.solve(gram: [1, 0, 0, 1], linear: [2, -1], n: 2)   // [2, 0]
enum NonNegativeLeastSquares {
    /// The minimiser for an n×n symmetric positive semi-definite `gram` (row-major) and `linear` b.
    /// Stops when no coordinate outside the passive set has a gradient b − Gu above `tolerance` ·
    /// max|b| (the KKT conditions up to rounding), or after 5n + 10 outer iterations.
    static func solve(gram: [Double], linear: [Double], n: Int, tolerance: Double = 1e-12) -> [Double] {
        var u = [Double](repeating: 0, count: n)
        guard n > 0 else { return u }
        var passive = [Bool](repeating: false, count: n)
        let scale = linear.map(abs).max() ?? 0
        guard scale > 0 else { return u }
        func gradient() -> [Double] {
            (0..<n).map { i in (0..<n).reduce(linear[i]) { $0 - gram[i * n + $1] * u[$1] } }
        }
        var w = gradient()
        // Coordinates whose entry failed through rounding (their subproblem value came out ≤ 0 at
        // once, impossible in exact arithmetic); they may enter again once u has moved.
        var blocked = [Bool](repeating: false, count: n)
        var iterations = 0
        outer: while iterations < 5 * n + 10 {
            iterations += 1
            // The most violated coordinate outside the passive set enters it.
            guard let entering = (0..<n).filter({ !passive[$0] && !blocked[$0] }).max(by: { w[$0] < w[$1] }),
                  w[entering] > tolerance * scale else { break }
            passive[entering] = true
            var first = true
            // Inner loop: solve on the passive set; step back to feasibility while a passive entry is ≤ 0.
            while true {
                let set = (0..<n).filter { passive[$0] }
                guard let s = solveSubproblem(gram: gram, linear: linear, n: n, set: set) else {
                    // A numerically dependent column: it cannot enter (after a step, u is feasible: keep it).
                    if !first { return u }
                    passive[entering] = false
                    blocked[entering] = true
                    continue outer
                }
                if first, let e = set.firstIndex(of: entering), s[e] <= 0 {
                    passive[entering] = false
                    blocked[entering] = true
                    continue outer
                }
                first = false
                if set.indices.allSatisfy({ s[$0] > 0 }) {
                    for (i, j) in set.enumerated() { u[j] = s[i] }
                    break
                }
                // Largest step towards s that keeps u ≥ 0; the coordinate that reaches 0 leaves.
                var alpha = 1.0, leaving = -1
                for (i, j) in set.enumerated() where s[i] <= 0 {
                    let a = u[j] / (u[j] - s[i])
                    if leaving < 0 || a < alpha { alpha = a; leaving = j }
                }
                for (i, j) in set.enumerated() {
                    u[j] += alpha * (s[i] - u[j])
                    if j == leaving || u[j] <= 0 { u[j] = 0; passive[j] = false }
                }
                if !passive.contains(true) { break }
            }
            for j in 0..<n { blocked[j] = false }
            w = gradient()
        }
        return u
    }

    /// G_PP s = b_P by Cholesky; nil when G_PP is not numerically positive definite.
    private static func solveSubproblem(gram: [Double], linear: [Double], n: Int, set: [Int]) -> [Double]? {
        let m = set.count
        var l = [Double](repeating: 0, count: m * m)
        let diagonalScale = set.map { gram[$0 * n + $0] }.max() ?? 0
        for i in 0..<m {
            for j in 0...i {
                var sum = gram[set[i] * n + set[j]]
                for k in 0..<j { sum -= l[i * m + k] * l[j * m + k] }
                if i == j {
                    guard sum > 1e-12 * diagonalScale else { return nil }
                    l[i * m + i] = sum.squareRoot()
                } else {
                    l[i * m + j] = sum / l[j * m + j]
                }
            }
        }
        var y = [Double](repeating: 0, count: m)
        for i in 0..<m {
            var sum = linear[set[i]]
            for k in 0..<i { sum -= l[i * m + k] * y[k] }
            y[i] = sum / l[i * m + i]
        }
        var s = [Double](repeating: 0, count: m)
        for i in stride(from: m - 1, through: 0, by: -1) {
            var sum = y[i]
            for k in (i + 1)..<m { sum -= l[k * m + i] * s[k] }
            s[i] = sum / l[i * m + i]
        }
        return s
    }

    /// Debiases the Lasso codes of `rows` PFVs in place (METHOD §3): for each row, S = {j : u_j > 0},
    /// u_S ← NNLS of x on V_S (G_S and V_S x formed in double precision from the float data), the
    /// other entries stay 0. `codes` rows×k, `pfvs` rows×c, `concepts` k×c, all row-major.
    static func refitSupports(codes: UnsafeMutablePointer<Float>, pfvs: UnsafePointer<Float>, concepts: UnsafePointer<Float>,
                              rows: Int, k: Int, c: Int, threads: Int) {
        let shared = (SharedPointer(codes), SharedConstPointer(pfvs), SharedConstPointer(concepts))
        Parallel.chunks(rows, threads: max(1, min(threads, rows / 64))) { range, _ in
            let codes = shared.0.base, pfvs = shared.1.base, v = shared.2.base
            for row in range {
                let u = codes + row * k, x = pfvs + row * c
                let support = (0..<k).filter { u[$0] > 0 }
                let n = support.count
                guard n > 0 else { continue }
                var gram = [Double](repeating: 0, count: n * n)
                var linear = [Double](repeating: 0, count: n)
                for (i, a) in support.enumerated() {
                    var b = 0.0
                    for ch in 0..<c { b += Double(v[a * c + ch]) * Double(x[ch]) }
                    linear[i] = b
                    for (j, bIndex) in support.enumerated() where j <= i {
                        var d = 0.0
                        for ch in 0..<c { d += Double(v[a * c + ch]) * Double(v[bIndex * c + ch]) }
                        gram[i * n + j] = d
                        gram[j * n + i] = d
                    }
                }
                let refit = solve(gram: gram, linear: linear, n: n)
                for (i, j) in support.enumerated() { u[j] = Float(refit[i]) }
            }
        }
    }
}
