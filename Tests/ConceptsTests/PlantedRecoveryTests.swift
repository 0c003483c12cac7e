import Testing
@testable import Concepts
@testable import Core

/// Each method must recover directions planted in synthetic PFVs, and R² must rise with K.
@Suite struct PlantedRecoveryTests {
    @Test func kmeansRecoversPlantedDirections() throws {
        var rng = SamplingRNG(seed: 11)
        let atoms = PlantedData.nonNegativeAtoms(k: 6, c: 24, rng: &rng)
        let x = PlantedData.sparseCombinations(atoms: atoms, n: 600, active: 1, noise: 0.05, rng: &rng)
        let bank = try ConceptLearner.learn(pfvs: x, k: 6, method: .kmeans, layer: "planted")
        let cosines = PlantedData.matchedCosines(planted: atoms, learned: bank.concepts)
        #expect(cosines.allSatisfy { $0 >= 0.95 }, "matched cosines \(cosines)")
        #expect(bank.quality.deadConcepts.isEmpty)
    }

    @Test func nmfRecoversPlantedDirections() throws {
        var rng = SamplingRNG(seed: 12)
        let atoms = PlantedData.nonNegativeAtoms(k: 5, c: 30, rng: &rng)
        let x = PlantedData.sparseCombinations(atoms: atoms, n: 800, active: 2, noise: 0.02, rng: &rng)
        let bank = try ConceptLearner.learn(pfvs: x, k: 5, method: .nmf, layer: "planted")
        let cosines = PlantedData.matchedCosines(planted: atoms, learned: bank.concepts)
        #expect(cosines.allSatisfy { $0 >= 0.95 }, "matched cosines \(cosines)")
        #expect(bank.concepts.data.allSatisfy { $0 >= 0 })
    }

    @Test func pcaRecoversPlantedOrthogonalDirections() throws {
        var rng = SamplingRNG(seed: 13)
        let atoms = PlantedData.orthonormalAtoms(k: 4, c: 20, rng: &rng)
        let x = PlantedData.gaussianMixture(atoms: atoms, scales: [5, 4, 3, 2], n: 1000, noise: 0.1, rng: &rng)
        let bank = try ConceptLearner.learn(pfvs: x, k: 4, method: .pca, layer: "planted")
        let cosines = PlantedData.matchedCosines(planted: atoms, learned: bank.concepts)
        #expect(cosines.allSatisfy { $0 >= 0.95 }, "matched cosines \(cosines)")
        #expect(bank.quality.r2 > 0.95)
    }

    @Test(arguments: [ConceptMethod.kmeans, .nmf, .pca])
    func r2RisesWithK(method: ConceptMethod) throws {
        var rng = SamplingRNG(seed: 14)
        let x: Matrix
        if method == .pca {
            let atoms = PlantedData.orthonormalAtoms(k: 6, c: 24, rng: &rng)
            x = PlantedData.gaussianMixture(atoms: atoms, scales: [6, 5, 4, 3, 2, 1], n: 600, noise: 0.05, rng: &rng)
        } else {
            let atoms = PlantedData.nonNegativeAtoms(k: 6, c: 24, rng: &rng)
            x = PlantedData.sparseCombinations(atoms: atoms, n: 600, active: method == .kmeans ? 1 : 2, noise: 0.02, rng: &rng)
        }
        let r2 = try [1, 2, 4, 6].map { try ConceptLearner.learn(pfvs: x, k: $0, method: method).quality.r2 }
        for i in 1..<r2.count { #expect(r2[i] > r2[i - 1], "R² by K = 1, 2, 4, 6: \(r2)") }
        #expect(r2.last! > 0.8, "R² by K = 1, 2, 4, 6: \(r2)")
    }

    @Test func learningIsReproducibleFromTheSeed() throws {
        var rng = SamplingRNG(seed: 15)
        let atoms = PlantedData.nonNegativeAtoms(k: 4, c: 16, rng: &rng)
        let x = PlantedData.sparseCombinations(atoms: atoms, n: 300, active: 1, noise: 0.1, rng: &rng)
        var options = ConceptOptions()
        options.seed = 99
        let a = try ConceptLearner.learn(pfvs: x, k: 4, method: .kmeans, options: options)
        let b = try ConceptLearner.learn(pfvs: x, k: 4, method: .kmeans, options: options)
        #expect(a == b)
        #expect(a.sample == ConceptSample(seed: 99, count: 300))
    }

    @Test func identityBasisCodesAreThePFVs() throws {
        var rng = SamplingRNG(seed: 16)
        let atoms = PlantedData.nonNegativeAtoms(k: 3, c: 9, rng: &rng)
        let x = PlantedData.sparseCombinations(atoms: atoms, n: 40, active: 2, noise: 0.1, rng: &rng)
        let bank = try ConceptLearner.learn(pfvs: x, k: 9, method: .identity)
        #expect(try bank.encode(x) == x)
        #expect(bank.quality.r2 == 1)
        #expect(bank.quality.meanNonzeros == 9)  // |noise| makes every channel non-zero
    }

    @Test func progressReportsEverySplit() throws {
        var rng = SamplingRNG(seed: 17)
        let atoms = PlantedData.nonNegativeAtoms(k: 4, c: 8, rng: &rng)
        let x = PlantedData.sparseCombinations(atoms: atoms, n: 100, active: 1, noise: 0.05, rng: &rng)
        var seen: [Int] = []
        _ = try ConceptLearner.learn(pfvs: x, k: 5, method: .kmeans) { done, total in
            #expect(total == 5)
            seen.append(done)
        }
        #expect(seen == [2, 3, 4, 5])
    }
}
