import Testing
@testable import Concepts
@testable import Core

@Suite struct NMFTests {
    static func plantedPFVs() -> Matrix {
        var rng = SamplingRNG(seed: 21)
        let atoms = PlantedData.nonNegativeAtoms(k: 6, c: 40, rng: &rng)
        return PlantedData.sparseCombinations(atoms: atoms, n: 500, active: 3, noise: 0.05, rng: &rng)
    }

    @Test func factorsAreNonNegativeAndLossNeverRises() throws {
        let x = Self.plantedPFVs()
        var options = ConceptOptions()
        options.nmfTolerance = 0  // run to the cap to observe many iterations
        options.nmfMaxIterations = 60
        let nmf = try NMF.fit(x, k: 6, options: options)
        #expect(nmf.codes.data.allSatisfy { $0 >= 0 })
        #expect(nmf.components.data.allSatisfy { $0 >= 0 })
        #expect(nmf.lossHistory.count == nmf.iterations + 1)
        #expect(nmf.iterations == 60)
        // Allowed slack: Float32 rounding of the Gram-form loss, 1e-6 of ½‖P‖².
        let halfNorm = 0.5 * x.data.reduce(0.0) { $0 + Double($1) * Double($1) }
        for i in 1..<nmf.lossHistory.count {
            #expect(nmf.lossHistory[i] <= nmf.lossHistory[i - 1] + 1e-6 * halfNorm,
                    "loss rose at iteration \(i): \(nmf.lossHistory[i - 1]) → \(nmf.lossHistory[i])")
        }
        #expect(nmf.lossHistory.last! < 0.5 * nmf.lossHistory.first!)
        // The Gram-form loss agrees with the directly measured reconstruction error.
        let direct = 0.5 * nmf.reconstructionError * nmf.reconstructionError
        #expect(abs(nmf.lossHistory.last! - direct) <= 1e-3 * direct + 1e-6 * halfNorm)
    }

    @Test func stopsByTheProjectedGradientRule() throws {
        let x = Self.plantedPFVs()
        var options = ConceptOptions()
        options.nmfTolerance = 1e-2
        let loose = try NMF.fit(x, k: 6, options: options)
        options.nmfTolerance = 1e-5
        let tight = try NMF.fit(x, k: 6, options: options)
        #expect(loose.iterations < tight.iterations)
        #expect(tight.reconstructionError <= loose.reconstructionError + 1e-6)
    }

    @Test func rejectsNegativePFVs() {
        var x = Matrix(rows: 4, cols: 3, repeating: 1)
        x[2, 1] = -0.5
        #expect(throws: ConceptError.invalidPFVs("NMF needs non-negative PFVs; PFV 2 channel 1 is -0.5 (use pca, or sample after a ReLU)")) {
            try NMF.fit(x, k: 2, options: ConceptOptions())
        }
    }
}
