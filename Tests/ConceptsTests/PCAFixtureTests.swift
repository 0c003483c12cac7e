import Foundation
import Testing
@testable import Concepts

/// PCA directions, mean and explained variance against scikit-learn
/// (fixtures written by tools/make_concepts_fixtures.py).
@Suite struct PCAFixtureTests {
    struct Fixture: Decodable {
        var rows: Int, cols: Int, k: Int
        var data: [Float]
        var components: [Double]
        var mean: [Double]
        var explained_variance: [Double]
    }

    static func load(_ name: String) throws -> Fixture {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/concepts/\(name).json")
        return try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    }

    @Test(arguments: ["pca_tall", "pca_wide"])
    func matchesScikitLearn(name: String) throws {
        let f = try Self.load(name)
        let x = try Matrix(rows: f.rows, cols: f.cols, data: f.data)
        let pca = try PCA.fit(x, k: f.k)
        for j in 0..<f.k {
            let ours = pca.components.row(j).map(Double.init)
            let theirs = Array(f.components[(j * f.cols)..<((j + 1) * f.cols)])
            let dot = zip(ours, theirs).reduce(0) { $0 + $1.0 * $1.1 }
            let sign: Double = dot < 0 ? -1 : 1
            let maxDiff = zip(ours, theirs).map { abs(sign * $0 - $1) }.max() ?? 0
            #expect(maxDiff < 1e-4, "\(name) component \(j): max |difference| \(maxDiff)")
            #expect(sign == 1, "\(name) component \(j): sign convention differs from sklearn's svd_flip")
            let ev = pca.explainedVariance[j]
            #expect(abs(ev - f.explained_variance[j]) <= 1e-4 * f.explained_variance[j],
                    "\(name) explained variance \(j): \(ev) vs \(f.explained_variance[j])")
        }
        for i in 0..<f.cols { #expect(abs(Double(pca.mean[i]) - f.mean[i]) < 1e-5) }
    }

    @Test func pcaCodesAreProjectionsOfCentredPFVs() throws {
        let f = try Self.load("pca_tall")
        let x = try Matrix(rows: f.rows, cols: f.cols, data: f.data)
        let bank = try ConceptLearner.learn(pfvs: x, k: f.k, method: .pca)
        let codes = try bank.encode(x)
        // u = V(x − mean) with sklearn's V and mean, in Double.
        for r in [0, 17, 399] {
            for j in 0..<f.k {
                var expected = 0.0
                for i in 0..<f.cols { expected += f.components[j * f.cols + i] * (Double(f.data[r * f.cols + i]) - f.mean[i]) }
                #expect(abs(Double(codes[r, j]) - expected) < 1e-3 * max(1, abs(expected)))
            }
        }
        // Explained share equals R² of the top-K reconstruction.
        let share = f.explained_variance.reduce(0, +) / (try PCA.fit(x, k: f.k).totalVariance)
        #expect(abs(bank.quality.r2 - share) < 1e-4)
    }
}
