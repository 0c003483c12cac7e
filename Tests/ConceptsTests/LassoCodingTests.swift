import Testing
@testable import Concepts
@testable import Core

/// The non-negative Lasso codes must satisfy the KKT conditions of
/// min ½‖x − Vᵀu‖² + λ‖x‖‖u‖₁, u ≥ 0:  r = Vx − VVᵀu;  u_j > 0 ⇒ r_j = λ‖x‖;  u_j = 0 ⇒ r_j ≤ λ‖x‖.
@Suite struct LassoCodingTests {
    static func bank(concepts: Matrix, lambda: Float) -> ConceptBank {
        ConceptBank(
            layer: "test", method: .kmeans, concepts: concepts, mean: nil, lambda: lambda,
            codingMaxSweeps: ConceptOptions().codingMaxSweeps, codingTolerance: ConceptOptions().codingTolerance,
            sample: ConceptSample(seed: 0, count: 0),
            quality: QualityReport(layer: "test", method: .kmeans, k: concepts.rows, pfvCount: 0, r2: 0,
                                   meanNonzeros: 0, activeShare: [Double](repeating: 0, count: concepts.rows), deadConcepts: []))
    }

    @Test(arguments: [Float(0.02), 0.1, 0.3])
    func codesSatisfyKKT(lambda: Float) throws {
        var rng = SamplingRNG(seed: 31)
        var v = Matrix(rows: 16, cols: 12)
        for i in 0..<v.data.count { v.data[i] = PlantedData.gaussian(&rng) }
        ConceptLearner.normalizeRows(&v)
        var x = Matrix(rows: 200, cols: 12)
        for i in 0..<x.data.count { x.data[i] = PlantedData.gaussian(&rng) }
        let bank = Self.bank(concepts: v, lambda: lambda)
        let u = try bank.encode(x, threads: 2)
        var active = 0
        for r in 0..<x.rows {
            let xr = x.row(r).map(Double.init)
            let norm = xr.reduce(0) { $0 + $1 * $1 }.squareRoot()
            let penalty = Double(lambda) * norm
            for j in 0..<v.rows {
                var residual = 0.0
                for i in 0..<v.cols {
                    var recon = 0.0
                    for l in 0..<v.rows { recon += Double(u[r, l]) * Double(v[l, i]) }
                    residual += Double(v[j, i]) * (xr[i] - recon)
                }
                let uj = Double(u[r, j])
                #expect(uj >= 0)
                if uj > 0 {
                    active += 1
                    #expect(abs(residual - penalty) <= 1e-3 * norm, "row \(r) concept \(j): r = \(residual), λ‖x‖ = \(penalty)")
                } else {
                    #expect(residual <= penalty + 1e-3 * norm, "row \(r) concept \(j): r = \(residual) > λ‖x‖ = \(penalty)")
                }
            }
        }
        #expect(active > 0)
    }

    @Test func largerLambdaGivesSparserCodes() throws {
        var rng = SamplingRNG(seed: 32)
        let atoms = PlantedData.nonNegativeAtoms(k: 8, c: 32, rng: &rng)
        let x = PlantedData.sparseCombinations(atoms: atoms, n: 300, active: 3, noise: 0.05, rng: &rng)
        let nnz = try [Float(0.01), 0.1, 0.4].map { lambda -> Double in
            let u = try Self.bank(concepts: atoms, lambda: lambda).encode(x)
            return Double(u.data.filter { $0 != 0 }.count) / Double(x.rows)
        }
        #expect(nnz[0] > nnz[1] && nnz[1] > nnz[2], "non-zeros per PFV by λ: \(nnz)")
    }
}
