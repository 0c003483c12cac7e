import Testing
@testable import Concepts
@testable import Core

/// Degenerate PFVs give a clear error or the documented result — never NaN, never a crash.
@Suite struct DegenerateInputTests {
    static func allFinite(_ bank: ConceptBank) -> Bool {
        bank.concepts.data.allSatisfy(\.isFinite) && bank.quality.r2.isFinite && (bank.mean ?? []).allSatisfy(\.isFinite)
    }

    @Test func kLargerThanSampleCountIsAnError() {
        let x = Matrix(rows: 3, cols: 5, repeating: 1)
        #expect(throws: ConceptError.invalidRequest("k-means: K = 4 exceeds the number of PFVs (3)")) {
            try ConceptLearner.learn(pfvs: x, k: 4, method: .kmeans)
        }
        #expect(throws: ConceptError.invalidRequest("NMF: K = 4 must be between 1 and min(PFVs, channels) = 3")) {
            try ConceptLearner.learn(pfvs: x, k: 4, method: .nmf)
        }
        #expect(throws: ConceptError.invalidRequest("PCA: K = 4 must be between 1 and min(PFVs, channels) = 3")) {
            try ConceptLearner.learn(pfvs: x, k: 4, method: .pca)
        }
    }

    @Test(arguments: [ConceptMethod.kmeans, .nmf, .pca])
    func allZeroPFVsAreAnError(method: ConceptMethod) {
        let x = Matrix(rows: 10, cols: 4)
        #expect(throws: ConceptError.invalidPFVs("all 10 PFVs of layer 'zeros' are zero: no concept direction can be learned")) {
            try ConceptLearner.learn(pfvs: x, k: 2, method: method, layer: "zeros")
        }
    }

    @Test func allZeroPFVsCodeToZero() throws {
        var rng = SamplingRNG(seed: 41)
        let atoms = PlantedData.nonNegativeAtoms(k: 3, c: 6, rng: &rng)
        let x = PlantedData.sparseCombinations(atoms: atoms, n: 50, active: 1, noise: 0.05, rng: &rng)
        let bank = try ConceptLearner.learn(pfvs: x, k: 3, method: .kmeans)
        let codes = try bank.encode(Matrix(rows: 5, cols: 6))
        #expect(codes.data.allSatisfy { $0 == 0 })
        let identity = try ConceptLearner.learn(pfvs: Matrix(rows: 5, cols: 6), k: 6, method: .identity)
        #expect(identity.quality.r2 == 1)  // documented: no variance, rebuilt exactly
        #expect(identity.quality.meanNonzeros == 0)
    }

    @Test func duplicatePFVs() throws {
        let distinct: [[Float]] = [[1, 0, 0, 0.1], [0, 2, 0.1, 0], [0.1, 0, 0, 3]]
        var data: [Float] = []
        for r in 0..<60 { data += distinct[r % 3] }
        let x = try Matrix(rows: 60, cols: 4, data: data)
        // kmeans finds the three points exactly and cannot split duplicates further.
        let bank = try ConceptLearner.learn(pfvs: x, k: 3, method: .kmeans)
        var expected = try Matrix(rows: 3, cols: 4, data: distinct.flatMap { $0 })
        ConceptLearner.normalizeRows(&expected)
        #expect(PlantedData.matchedCosines(planted: expected, learned: bank.concepts).allSatisfy { $0 > 0.9999 })
        #expect(throws: ConceptError.invalidRequest("k-means: the 60 PFVs form only 3 distinct clusters; cannot make K = 4 concepts (lower K)")) {
            try ConceptLearner.learn(pfvs: x, k: 4, method: .kmeans)
        }
        // NMF and PCA (K above the rank of the centred data) stay finite.
        let nmf = try ConceptLearner.learn(pfvs: x, k: 3, method: .nmf)
        #expect(Self.allFinite(nmf) && nmf.quality.r2 > 0.9)
        let pca = try ConceptLearner.learn(pfvs: x, k: 3, method: .pca)
        #expect(Self.allFinite(pca) && abs(pca.quality.r2 - 1) < 1e-4)
    }

    @Test func singleChannel() throws {
        let x = try Matrix(rows: 8, cols: 1, data: [0.5, 1, 1.5, 2, 4, 4.5, 5, 5.5])
        // kmeans: K ≤ N is allowed; every centroid normalises to the one direction [1] (documented).
        let kmeans = try ConceptLearner.learn(pfvs: x, k: 2, method: .kmeans)
        #expect(kmeans.concepts.data == [1, 1])
        #expect(Self.allFinite(kmeans))
        let nmf = try ConceptLearner.learn(pfvs: x, k: 1, method: .nmf)
        #expect(nmf.concepts.data == [1])
        #expect(Self.allFinite(nmf) && nmf.quality.r2 > 0.9)
        let pca = try ConceptLearner.learn(pfvs: x, k: 1, method: .pca)
        #expect(pca.concepts.data == [1])
        #expect(abs(pca.quality.r2 - 1) < 1e-5)
        #expect(throws: ConceptError.self) { try ConceptLearner.learn(pfvs: x, k: 2, method: .pca) }
        #expect(throws: ConceptError.self) { try ConceptLearner.learn(pfvs: x, k: 2, method: .nmf) }
    }

    @Test func nonFiniteAndEmptyPFVsAreErrors() {
        var x = Matrix(rows: 3, cols: 2, repeating: 1)
        x[1, 1] = .nan
        #expect(throws: ConceptError.invalidPFVs("PFV 1 channel 1 is nan (not finite)")) {
            try ConceptLearner.learn(pfvs: x, k: 1, method: .kmeans)
        }
        #expect(throws: ConceptError.self) { try ConceptLearner.learn(pfvs: Matrix(rows: 0, cols: 4), k: 1, method: .pca) }
        #expect(throws: ConceptError.invalidRequest("identity basis has one concept per channel: K must be 2, got 3")) {
            try ConceptLearner.learn(pfvs: Matrix(rows: 3, cols: 2, repeating: 1), k: 3, method: .identity)
        }
    }

    @Test func emptyInputsToABankGiveEmptyResults() throws {
        let bank = try ConceptLearner.learn(pfvs: Matrix(rows: 4, cols: 2, data: [1, 0, 0, 1, 1, 1, 2, 0]), k: 2, method: .kmeans)
        #expect(try bank.encode(Matrix(rows: 0, cols: 2)) == Matrix(rows: 0, cols: 2))
        #expect(try bank.reconstruct(Matrix(rows: 0, cols: 2)) == Matrix(rows: 0, cols: 2))
        #expect(throws: ConceptError.self) {
            try ConceptLearner.bank(concepts: Matrix(rows: 0, cols: 2), method: .kmeans, pfvs: Matrix(rows: 3, cols: 2))
        }
    }
}
