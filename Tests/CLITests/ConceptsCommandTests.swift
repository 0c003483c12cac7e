import ArgumentParser
import CommandLineSupport
import Foundation
import GIGTrace
import Testing
@testable import CLI
@testable import Concepts
@testable import Core

/// `gigtrace concepts` end to end on the demo model and a few Fashion-MNIST test images.
@Suite struct ConceptsCommandTests {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let model = repo.appendingPathComponent("models/fashion-resnet/model.onnx").path
    static let images = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"
    static let stage3 = "/stage3/relu/Relu_output_0"
    let dir: String

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("concepts-cli-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    func arguments(_ extra: [String]) -> [String] {
        ["--model", Self.model, "--data", Self.images, "--mean", "0.2860", "--std", "0.3530", "--limit", "24",
         "--batch-size", "16", "--threads", "1", "--quiet"] + extra
    }

    @Test(arguments: ["kmeans", "nmf", "pca"])
    func writesABankOfTheRequestedShape(method: String) throws {
        let out = "\(dir)/\(method).json"
        try ConceptsCommand.parse(arguments(["--layer", Self.stage3, "--method", method, "--k", "5", "--out", out])).run()
        let bank = try ConceptBank.read(from: out, layer: Self.stage3, channels: 64)
        #expect(bank.k == 5)
        #expect(bank.method.rawValue == method)
        #expect(bank.quality.k == 5)
        // 4 draws per image by default; an image without positive contribution gives none.
        #expect(bank.sample.count > 0 && bank.sample.count <= 24 * 4)
        #expect(bank.quality.pfvCount == bank.sample.count)
        #expect(bank.quality.r2 > 0 && bank.quality.r2 <= 1)
    }

    @Test func allPositionsUsesEveryPFV() throws {
        let out = "\(dir)/all.json"
        try ConceptsCommand.parse(arguments(["--layer", Self.stage3, "--k", "4", "--all-positions", "--seed", "3",
                                             "--out", out])).run()
        let bank = try ConceptBank.read(from: out)
        #expect(bank.sample.count == 24 * 7 * 7)
        #expect(bank.sample.seed == 3)
    }

    @Test func badInputIsOneClearError() throws {
        func message(_ extra: [String]) throws -> String {
            do {
                let command = try ConceptsCommand.parse(arguments(extra + ["--out", "\(dir)/bad.json"]))
                _ = try command.learn()
            } catch let error as any UserError {
                return commandLineMessage(error)
            } catch {
                return ConceptsCommand.message(for: error)   // refused by the parser or validate()
            }
            return ""
        }
        let unknown = try message(["--layer", "/stage9/relu", "--k", "4"])
        #expect(unknown.contains("/stage9/relu") && unknown.contains(Self.stage3))
        let logits = try message(["--layer", "logits", "--k", "4"])
        #expect(logits.contains("not C×H×W") && logits.contains(Self.stage3))
        #expect(try message(["--layer", Self.stage3, "--k", "0"]).contains("--k must be at least 1"))
        #expect(try message(["--layer", Self.stage3, "--k", "4", "--method", "lda"]).contains("'lda' is invalid"))
        // Through run(): a failing command exits 1 and writes nothing.
        let failing = try ConceptsCommand.parse(arguments(["--layer", "logits", "--k", "4", "--out", "\(dir)/none.json"]))
        #expect(throws: ExitCode.self) { try failing.run() }
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/none.json"))
    }
}
