import Foundation
import Testing
import TestSupport
@testable import Concepts
@testable import Core

/// Debiased codes (METHOD §3): the Lasso picks the support S, then u_S is refit by non-negative
/// least squares on S. References: scipy.optimize.nnls on the Lasso's support (an independent
/// active-set implementation), and the hand property that the refit never rebuilds a PFV worse.
@Suite struct DebiasedCodingTests {
    static func bank(concepts: Matrix, lambda: Float, coding: ConceptBank.Coding) -> ConceptBank {
        var bank = LassoCodingTests.bank(concepts: concepts, lambda: lambda)
        bank.coding = coding
        return bank
    }

    /// A random bank and PFVs: `nonNegative` gives correlated non-negative atoms with sparse
    /// combinations (as k-means centroids of post-ReLU PFVs), else Gaussian atoms and PFVs.
    static func problem(seed: UInt64, nonNegative: Bool, k: Int, c: Int, n: Int) -> (Matrix, Matrix) {
        var rng = SamplingRNG(seed: seed)
        if nonNegative {
            let atoms = PlantedData.nonNegativeAtoms(k: k, c: c, rng: &rng)
            var x = PlantedData.sparseCombinations(atoms: atoms, n: n, active: 4, noise: 0.1, rng: &rng)
            for i in 0..<x.data.count { x.data[i] = max(0, x.data[i]) }
            return (atoms, x)
        }
        var v = Matrix(rows: k, cols: c)
        for i in 0..<v.data.count { v.data[i] = PlantedData.gaussian(&rng) }
        ConceptLearner.normalizeRows(&v)
        var x = Matrix(rows: n, cols: c)
        for i in 0..<x.data.count { x.data[i] = PlantedData.gaussian(&rng) }
        return (v, x)
    }

    /// scipy.optimize.nnls(V_Sᵀ, x) for every row, S = `supports[row]`; one list of |S| values per row.
    static func scipyNNLS(concepts v: Matrix, pfvs x: Matrix, supports: [[Int]]) throws -> [[Double]] {
        let input: [String: Any] = [
            "v": (0..<v.rows).map { v.row($0).map(Double.init) },
            "x": (0..<x.rows).map { x.row($0).map(Double.init) },
            "supports": supports,
        ]
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("nnls-\(UUID().uuidString).json").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try JSONSerialization.data(withJSONObject: input).write(to: URL(fileURLWithPath: path))
        let out = try runPython("""
            import json, sys
            import numpy as np
            from scipy.optimize import nnls
            d = json.load(open(sys.argv[1]))
            v = np.array(d["v"], dtype=np.float64)
            result = []
            for x, s in zip(d["x"], d["supports"]):
                if not s:
                    result.append([])
                    continue
                u, _ = nnls(v[s].T, np.array(x, dtype=np.float64), maxiter=10000)
                result.append(u.tolist())
            print(json.dumps(result))
            """, arguments: [path])
        let rows = try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [[Double]]
        #expect(rows != nil, "unexpected output of the scipy reference: \(out.prefix(200))")
        return rows ?? []
    }

    @Test(arguments: [(false, Float(0.02)), (false, 0.1), (true, 0.02), (true, 0.1), (true, 0.3)])
    func refitEqualsScipyNNLSOnTheLassoSupport(nonNegative: Bool, lambda: Float) throws {
        let (v, x) = Self.problem(seed: nonNegative ? 61 : 62, nonNegative: nonNegative, k: 24, c: 16, n: 150)
        let lasso = try Self.bank(concepts: v, lambda: lambda, coding: .lasso).encode(x)
        let debiased = try Self.bank(concepts: v, lambda: lambda, coding: .debiased).encode(x, threads: 2)
        let supports = (0..<x.rows).map { r in (0..<v.rows).filter { lasso[r, $0] > 0 } }
        let reference = try Self.scipyNNLS(concepts: v, pfvs: x, supports: supports)
        #expect(reference.count == x.rows)
        var compared = 0, leftSupport = 0
        for r in 0..<x.rows {
            let s = supports[r], expected = reference[r]
            let scale = max(1e-6, expected.map(abs).max() ?? 0)
            for (i, j) in s.enumerated() {
                #expect(abs(Double(debiased[r, j]) - expected[i]) <= 1e-5 * scale,
                        "row \(r) concept \(j): debiased \(debiased[r, j]), scipy nnls \(expected[i])")
                if expected[i] == 0 { leftSupport += 1 }
                compared += 1
            }
            // Outside the Lasso's support the debiased code stays 0.
            for j in 0..<v.rows where !s.contains(j) { #expect(debiased[r, j] == 0, "row \(r) concept \(j) outside S") }
        }
        #expect(compared > x.rows, "supports too small to test: \(compared) entries")
        if nonNegative && lambda == 0.02 {
            // Correlated atoms with a large support: NNLS drops some of the Lasso's concepts (the
            // active-set steps back to feasibility run).
            #expect(leftSupport > 0, "no entry left the support")
        }
    }

    /// Hand property: on S, NNLS minimises ‖x − V_Sᵀu_S‖² over u_S ≥ 0 and the Lasso code restricted
    /// to S is one such u_S, so the debiased reconstruction error is never larger, PFV by PFV.
    @Test(arguments: [false, true])
    func debiasedReconstructionIsNeverWorse(nonNegative: Bool) throws {
        let (v, x) = Self.problem(seed: nonNegative ? 63 : 64, nonNegative: nonNegative, k: 20, c: 12, n: 300)
        let lassoBank = Self.bank(concepts: v, lambda: 0.1, coding: .lasso)
        let debiasedBank = Self.bank(concepts: v, lambda: 0.1, coding: .debiased)
        let lasso = try lassoBank.reconstruct(try lassoBank.encode(x))
        let debiased = try debiasedBank.reconstruct(try debiasedBank.encode(x))
        var strictlyBetter = 0
        for r in 0..<x.rows {
            let el = zip(lasso.row(r), x.row(r)).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }
            let ed = zip(debiased.row(r), x.row(r)).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }
            #expect(ed <= el * (1 + 1e-5) + 1e-10, "row \(r): debiased error \(ed) > Lasso error \(el)")
            if ed < el * 0.999 { strictlyBetter += 1 }
        }
        // λ = 0.1 shrinks every non-empty code, so the refit must improve most PFVs.
        #expect(strictlyBetter > x.rows / 2, "only \(strictlyBetter) of \(x.rows) PFVs rebuilt better")
    }

    @Test func linearCodesRefuseDebiasing() throws {
        var rng = SamplingRNG(seed: 65)
        let atoms = PlantedData.orthonormalAtoms(k: 3, c: 8, rng: &rng)
        let x = PlantedData.gaussianMixture(atoms: atoms, scales: [3, 2, 1], n: 50, noise: 0, rng: &rng)
        var options = ConceptOptions()
        options.coding = .debiased
        for method in [ConceptMethod.pca, .identity] {
            do {
                _ = try ConceptLearner.learn(pfvs: x, k: method == .pca ? 3 : 8, method: method, options: options, layer: "l")
                Issue.record("\(method) bank learned with debiased codes")
            } catch let error as ConceptError {
                #expect("\(error)".contains("debiased codes are defined for kmeans and nmf banks only"), "\(error)")
                #expect(!"\(error)".contains("\n"))
            }
        }
        var pca = try ConceptLearner.learn(pfvs: x, k: 3, method: .pca)
        pca.coding = .debiased
        #expect(pca.validationProblem()?.contains("debiased") == true)
        #expect(throws: ConceptError.self) { try pca.encode(x) }
    }

    @Test func bankFilesKeepTheCodingAndOldFilesReadAsLasso() throws {
        var bank = try ConceptBankTests.sampleBank()
        bank.coding = .debiased
        let path = ConceptBankTests.tempPath("debiased.json")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try bank.write(to: path)
        #expect(try ConceptBank.read(from: path).coding == .debiased)
        // A file written before the option existed has no "coding" field.
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any] ?? [:]
        #expect(json.removeValue(forKey: "coding") as? String == "debiased")
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: path))
        #expect(try ConceptBank.read(from: path).coding == .lasso)
    }

    /// NNLS on a hand example where the first coordinate to enter (largest b, index 2) must leave
    /// again: G = [[.45, .24, .57], [.24, 1.45, 1.01], [.57, 1.01, 1.1]], b = [.78, .64, 1.1] (V =
    /// rows (.6, .3, 0), (0, .8, .9), (.6, .7, .5), x = (.9, .8, 0)). On S = {0, 1}, by Cramer's rule
    /// u₀ = (.78·1.45 − .24·.64)/(.45·1.45 − .24²) = .9774/.5949, u₁ = (.45·.64 − .24·.78)/.5949 =
    /// .1008/.5949, and the KKT gradient of the zero coordinate is 1.1 − .57u₀ − 1.01u₁ = −.0076 ≤ 0.
    @Test func handExampleWhereTheFirstEnteringCoordinateLeaves() {
        let u = NonNegativeLeastSquares.solve(gram: [0.45, 0.24, 0.57, 0.24, 1.45, 1.01, 0.57, 1.01, 1.1],
                                              linear: [0.78, 0.64, 1.1], n: 3)
        #expect(abs(u[0] - 0.9774 / 0.5949) < 1e-12 && abs(u[1] - 0.1008 / 0.5949) < 1e-12 && u[2] == 0, "\(u)")
        let free = NonNegativeLeastSquares.solve(gram: [2, 1, 1, 2], linear: [3, 3], n: 2)
        #expect(abs(free[0] - 1) < 1e-12 && abs(free[1] - 1) < 1e-12, "\(free)")
    }
}
