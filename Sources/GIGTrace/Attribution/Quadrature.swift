import COpenBLAS
import Core

/// Points α_k ∈ [0, 1] and weights w_k for approximating ∫₀¹ f(α) dα ≈ Σ_k w_k f(α_k) along the
/// GIG path, with Captum's conventions (`method`, `n_steps`) so that results compare with Captum.
///
/// Captum's `riemann_trapezoid` weights sum to (n−1)/n, not 1; that is kept for comparability
/// (METHOD §4), so expect a 1/n completeness shortfall from that method alone.
public struct Quadrature: Sendable, Equatable {
    /// Captum's method names.
    public enum Method: String, Sendable, CaseIterable, Codable {
        case gaussLegendre = "gausslegendre"
        case riemannLeft = "riemann_left"
        case riemannRight = "riemann_right"
        case riemannMiddle = "riemann_middle"
        case riemannTrapezoid = "riemann_trapezoid"
    }

    public let method: Method
    /// Integration points α_k, as Captum computes them (Riemann points through a float32
    /// `torch.linspace`, Gauss–Legendre in double precision).
    public let alphas: [Double]
    /// Weights w_k (Captum's `step_sizes`).
    public let weights: [Double]

    /// The rule with `steps` points. Riemann rules need at least 2 points (as in Captum),
    /// Gauss–Legendre at least 1.
    public init(method: Method, steps: Int) throws {
        let minimum = method == .gaussLegendre ? 1 : 2
        guard steps >= minimum else {
            throw InputError.invalidParameter(.steps, "steps must be at least \(minimum) for \(method.rawValue), got \(steps)")
        }
        self.method = method
        let n = steps
        switch method {
        case .gaussLegendre:
            let (nodes, w) = try Quadrature.gaussLegendre(n)
            alphas = nodes.map { 0.5 * (1 + $0) }
            weights = w.map { 0.5 * $0 }
        case .riemannLeft:
            alphas = Quadrature.torchLinspace(0, 1 - 1 / Double(n), n)
            weights = Array(repeating: 1 / Double(n), count: n)
        case .riemannRight:
            alphas = Quadrature.torchLinspace(1 / Double(n), 1, n)
            weights = Array(repeating: 1 / Double(n), count: n)
        case .riemannMiddle:
            alphas = Quadrature.torchLinspace(1 / (2 * Double(n)), 1 - 1 / (2 * Double(n)), n)
            weights = Array(repeating: 1 / Double(n), count: n)
        case .riemannTrapezoid:
            alphas = Quadrature.torchLinspace(0, 1, n)
            var w = Array(repeating: 1 / Double(n), count: n)
            w[0] /= 2
            w[n - 1] /= 2
            weights = w
        }
    }

    /// Number of points.
    public var steps: Int { alphas.count }

    /// `torch.linspace(start, end, n)` in float32, element for element: the first half counts up
    /// from `start`, the second half down from `end`, with a float32 step.
    static func torchLinspace(_ start: Double, _ end: Double, _ n: Int) -> [Double] {
        let s = Float(start), e = Float(end)
        let step = (e - s) / Float(n - 1)
        let half = n / 2
        return (0..<n).map { i in
            Double(i < half ? s + step * Float(i) : e - step * Float(n - 1 - i))
        }
    }

    /// Gauss–Legendre nodes on [−1, 1] (ascending) and weights, by Golub–Welsch: the nodes are
    /// the eigenvalues of the symmetric tridiagonal Jacobi matrix of the Legendre polynomials
    /// (LAPACK `dstev`), the weights 2·(first eigenvector component)².
    static func gaussLegendre(_ n: Int) throws -> (nodes: [Double], weights: [Double]) {
        var diagonal = [Double](repeating: 0, count: n)
        var offDiagonal = (1..<max(n, 2)).map { k -> Double in
            let k = Double(k)
            return k / (4 * k * k - 1).squareRoot()
        }
        var vectors = [Double](repeating: 0, count: n * n)
        let info = LAPACKE_dstev(LAPACK_COL_MAJOR, Int8(UInt8(ascii: "V")), Int32(n),
                                 &diagonal, &offDiagonal, &vectors, Int32(n))
        guard info == 0 else {
            throw TraceError.invalidSettings("Gauss–Legendre rule with \(n) points did not converge (LAPACK dstev info \(info))")
        }
        // Column j of `vectors` (column-major) is the eigenvector of node j; its first entry is vectors[j*n].
        let weights = (0..<n).map { 2 * vectors[$0 * n] * vectors[$0 * n] }
        return (diagonal, weights)
    }
}
