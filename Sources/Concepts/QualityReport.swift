import COpenBLAS
import Foundation

/// How well a layer's concept bank codes its PFVs (METHOD §3): reconstruction R², sparsity, and how
/// often each concept is used. Codable for `--json`; `table` prints it for people.
public struct QualityReport: Sendable, Codable, Equatable {
    /// Layer (tensor) name.
    public var layer: String
    public var method: ConceptMethod
    /// Number of concepts.
    public var k: Int
    /// Number of PFVs measured.
    public var pfvCount: Int
    /// R² = 1 − Σ‖x − x̃‖² / Σ‖x − x̄‖² (x̄ the mean PFV). When the PFVs do not vary at all it is
    /// 1 if they are rebuilt exactly and 0 otherwise.
    public var r2: Double
    /// Mean number of non-zero codes per PFV.
    public var meanNonzeros: Double
    /// For every concept, the share of PFVs whose code for it is non-zero (0…1).
    public var activeShare: [Double]
    /// Concepts never active on these PFVs.
    public var deadConcepts: [Int]

    /// Measures codes U (N×K) of `pfvs` (N×C) against `concepts` (K×C) and optional PCA `mean`.
    /// No PFVs: R² 0, every concept dead.
    public static func measure(
        pfvs: Matrix, codes: Matrix, concepts: Matrix, mean: [Float]?, layer: String, method: ConceptMethod
    ) -> QualityReport {
        let n = pfvs.rows, c = pfvs.cols, k = concepts.rows
        guard n > 0, c > 0, k > 0 else {
            return QualityReport(layer: layer, method: method, k: k, pfvCount: n, r2: 0, meanNonzeros: 0,
                                 activeShare: [Double](repeating: 0, count: k), deadConcepts: Array(0..<k))
        }
        var active = [Int](repeating: 0, count: k)
        var nonzeros = 0
        for r in 0..<n {
            for j in 0..<k where codes.data[r * k + j] != 0 { active[j] += 1; nonzeros += 1 }
        }
        let (residual, spread) = pfvs.data.withUnsafeBufferPointer { pp -> (Double, Double) in
            let p = pp.baseAddress!
            let res = codes.data.withUnsafeBufferPointer { pu in
                concepts.data.withUnsafeBufferPointer { pv in
                    Linalg.residualSquared(p, codes: pu.baseAddress!, basis: pv.baseAddress!, rows: n, cols: c, k: k, mean: mean)
                }
            }
            let xbar = Linalg.columnMeans(p, rows: n, cols: c)
            return (res, Linalg.sumSquaredDeviation(p, rows: n, cols: c, from: xbar))
        }
        let r2: Double = spread > 0 ? 1 - residual / spread : (residual == 0 ? 1 : 0)
        return QualityReport(
            layer: layer, method: method, k: k, pfvCount: n, r2: r2,
            meanNonzeros: n > 0 ? Double(nonzeros) / Double(n) : 0,
            activeShare: active.map { n > 0 ? Double($0) / Double(n) : 0 },
            deadConcepts: active.indices.filter { active[$0] == 0 })
    }

    /// A table with one row per report: layer, method, K, PFVs, R², non-zeros per PFV, dead concepts,
    /// and the smallest / median / largest concept activity share.
    public static func table(_ reports: [QualityReport]) -> String {
        let header = ["layer", "method", "K", "PFVs", "R²", "nnz/PFV", "dead", "share min", "median", "max"]
        var rows = [header]
        for q in reports {
            let shares = q.activeShare.sorted()
            func pct(_ v: Double?) -> String { v.map { String(format: "%.1f%%", 100 * $0) } ?? "-" }
            rows.append([
                q.layer, q.method.rawValue, "\(q.k)", "\(q.pfvCount)", String(format: "%.4f", q.r2),
                String(format: "%.2f", q.meanNonzeros), "\(q.deadConcepts.count)",
                pct(shares.first), pct(shares.isEmpty ? nil : shares[shares.count / 2]), pct(shares.last),
            ])
        }
        let widths = header.indices.map { col in rows.map { $0[col].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { col, cell in
                let pad = String(repeating: " ", count: widths[col] - cell.count)
                return col < 2 ? cell + pad : pad + cell
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}
