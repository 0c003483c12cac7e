import Foundation
import Testing
@testable import Concepts
@testable import Core

@Suite struct ConceptBankTests {
    static func sampleBank() throws -> ConceptBank {
        var rng = SamplingRNG(seed: 51)
        let atoms = PlantedData.nonNegativeAtoms(k: 4, c: 12, rng: &rng)
        let x = PlantedData.sparseCombinations(atoms: atoms, n: 200, active: 2, noise: 0.05, rng: &rng)
        return try ConceptLearner.learn(pfvs: x, k: 4, method: .nmf, layer: "layer2.0.conv1",
                                        sample: ConceptSample(seed: 7, count: 200))
    }

    static func tempPath(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("concepts-test-\(UUID().uuidString)-\(name)").path
    }

    @Test func writesAndReadsBack() throws {
        let bank = try Self.sampleBank()
        let path = Self.tempPath("bank.json")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try bank.write(to: path)
        let back = try ConceptBank.read(from: path, layer: "layer2.0.conv1", channels: 12)
        #expect(back == bank)
        #expect(back.sample == ConceptSample(seed: 7, count: 200))
        #expect(back.quality.activeShare.count == 4)
    }

    @Test func pcaBankKeepsItsMeanAndRebuilds() throws {
        var rng = SamplingRNG(seed: 52)
        let atoms = PlantedData.orthonormalAtoms(k: 3, c: 8, rng: &rng)
        let x = PlantedData.gaussianMixture(atoms: atoms, scales: [3, 2, 1], n: 100, noise: 0, rng: &rng)
        let bank = try ConceptLearner.learn(pfvs: x, k: 3, method: .pca)
        let path = Self.tempPath("pca.json")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try bank.write(to: path)
        let back = try ConceptBank.read(from: path)
        let rebuilt = try back.reconstruct(try back.encode(x))
        let maxError = zip(rebuilt.data, x.data).map { abs($0 - $1) }.max() ?? 0
        #expect(maxError < 1e-4)
    }

    @Test func corruptFilesGiveAnErrorNamingTheFile() throws {
        let path = Self.tempPath("corrupt.json")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data("{\"format\": \"gigtrace-concept-bank\", \"concepts\": ".utf8).write(to: URL(fileURLWithPath: path))
        do {
            _ = try ConceptBank.read(from: path)
            Issue.record("corrupt file was accepted")
        } catch let error as InputError {
            guard case .corruptFile(let p, _) = error else { Issue.record("wrong error \(error)"); return }
            #expect(p == path)
            #expect(error.description.hasPrefix(path))
        }
        #expect(throws: InputError.fileNotFound(path + ".missing")) { try ConceptBank.read(from: path + ".missing") }
    }

    @Test func inconsistentBanksAreRejected() throws {
        let bank = try Self.sampleBank()
        let path = Self.tempPath("bad.json")
        defer { try? FileManager.default.removeItem(atPath: path) }
        // Not unit norm.
        var scaled = bank
        for i in 0..<scaled.channels { scaled.concepts.data[i] *= 2 }
        try JSONEncoder().encode(scaled).write(to: URL(fileURLWithPath: path))
        #expect(throws: InputError.corruptFile(path: path, reason: "concept 0 has norm 2.0000, expected 1 (or 0)")) {
            try ConceptBank.read(from: path)
        }
        // Element count that does not match the shape.
        var short = bank
        short.concepts.data.removeLast()
        try JSONEncoder().encode(short).write(to: URL(fileURLWithPath: path))
        #expect(throws: InputError.corruptFile(path: path, reason: "concept matrix 4×12 holds 47 values")) {
            try ConceptBank.read(from: path)
        }
        // Written fine (over the bad file), but for another layer / channel count than asked.
        try bank.write(to: path)
        #expect(try ConceptBank.read(from: path) == bank)
        #expect(throws: InputError.corruptFile(path: path, reason: "concept bank is for layer 'layer2.0.conv1', not 'layer3'")) {
            try ConceptBank.read(from: path, layer: "layer3")
        }
        #expect(throws: InputError.corruptFile(path: path, reason: "concept bank has 12 channels, layer 'layer2.0.conv1' has 64")) {
            try ConceptBank.read(from: path, channels: 64)
        }
        #expect(throws: ConceptError.shapeMismatch("PFVs have 5 channels but the concept bank of layer 'layer2.0.conv1' has 12")) {
            try bank.encode(Matrix(rows: 2, cols: 5))
        }
    }

    @Test func qualityReportPrintsAsATable() throws {
        let bank = try Self.sampleBank()
        let table = QualityReport.table([bank.quality])
        let lines = table.split(separator: "\n")
        #expect(lines.count == 2)
        #expect(lines[0].hasPrefix("layer"))
        #expect(lines[1].contains("layer2.0.conv1") && lines[1].contains("nmf"))
        #expect(lines[1].contains(String(format: "%.4f", bank.quality.r2)))
        // JSON round trip of the report alone (for --json).
        let json = try JSONEncoder().encode(bank.quality)
        #expect(try JSONDecoder().decode(QualityReport.self, from: json) == bank.quality)
    }
}
