import ArgumentParser
import CommandLineSupport
import Foundation
import GIGTrace
import TestSupport
import Testing
@testable import CLI
@testable import Core

/// `gigtrace attribute` and `gigtrace sanity` end to end on the demo model and the Fashion-MNIST
/// test set: the files written, the map against Gradient × Input computed by hand from the
/// `gradient` method's output, and the bad-input messages.
@Suite struct AttributeCommandTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let model = root.appendingPathComponent("models/fashion-resnet/model.onnx").path
    static let images = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"
    let dir: String

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("attribute-cli-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    func attribute(_ extra: [String]) throws -> AttributeCommand {
        try AttributeCommand.parse(["--model", Self.model, "--data", Self.images, "--mean", "0.2860", "--std", "0.3530",
                                    "--limit", "2", "--out", dir, "--quiet"] + extra)
    }

    func message(_ body: () throws -> Void) -> String {
        do { try body() } catch { return commandLineMessage(error) }
        return "no error"
    }

    @Test func writesMapsAndPNGs() throws {
        try attribute(["--method", "gradient", "--target", "label"]).compute()
        try attribute(["--method", "gradxinput", "--target", "label"]).compute()
        let g = try Npy.read(path: "\(dir)/gradient_maps.npy").floatTensor(path: "g")
        let gx = try Npy.read(path: "\(dir)/gradxinput_maps.npy").floatTensor(path: "gx")
        let summed = try Npy.read(path: "\(dir)/gradxinput_summed.npy").floatTensor(path: "s")
        #expect(g.shape == [2, 1, 28, 28] && summed.shape == [2, 28, 28])
        // Gradient × Input = gradient · x, with x = (pixel/255 − 0.286)/0.353 of the first image's pixels.
        let x = try AttributeCommand.loadImages(spec: try attribute([]).dataset.spec(), indices: nil).images
        for j in 0..<g.count { #expect(abs(gx.data[j] - g.data[j] * x.data[j]) <= 1e-6 * max(1, abs(gx.data[j]))) }
        for name in ["gradxinput_0_heat.png", "gradxinput_1_overlay.png"] {
            #expect(FileManager.default.fileExists(atPath: "\(dir)/\(name)"), "\(name) missing")
        }
        let targets = try Npy.read(path: "\(dir)/gradxinput_targets.npy").integers(path: "t")
        #expect(targets == [9, 2])   // Fashion-MNIST test labels of images 0 and 1: ankle boot, pullover
    }

    /// `--timing`'s line parses as JSON with the method, the sample count and the seconds the
    /// measured calls took; `measure` passes the body's value through.
    @Test func timingLineIsJSON() throws {
        var clock = AttributeCommand.AttributionClock()
        #expect(clock.measure { 42 } == 42)
        let line = clock.json(method: .integratedGradients, samples: 3)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["method"] as? String == "ig" && object["samples"] as? Int == 3)
        let seconds = try #require(object["attribution_seconds"] as? Double)
        #expect(seconds >= 0 && seconds < 1 && abs(seconds - clock.seconds) < 1e-4)
    }

    @Test func badInputGivesOneLineErrors() throws {
        #expect(throws: (any Error).self) { try AttributeCommand.parse(["--model", Self.model, "--out", dir, "--method", "lime"]) }
        #expect(message { try attribute(["--target", "12"]).compute() }.contains("out of range"))
        #expect(message { try attribute(["--target", "Unicorn"]).compute() }.contains("not pred, label"))
        #expect(message { try attribute(["--indices", "5"]).compute() }.contains("--indices"))
        #expect(message { try attribute(["--classes", "Sneaker", "--limit", "0"]).compute() }.contains("N = 0"))
        #expect(message { try attribute(["--baseline", "half"]).compute() }.contains("--baseline"))
        #expect(throws: (any Error).self) {
            try SanityCommand.parse(["--model", Self.model, "--data", Self.images, "--out", dir, "--sigma", "0"])
        }
        #expect(throws: (any Error).self) {
            try SanityCommand.parse(["--model", Self.model, "--data", Self.images, "--out", dir, "--perturbed-models", "0"])
        }
    }

    /// A small sanity run: JSON valid against schemas/sanity.schema.json (checked by Python's
    /// jsonschema), the figure written, and gradient maps changed by full randomization.
    @Test func sanityRunWritesReportAndFigure() throws {
        let c = try SanityCommand.parse(["--model", Self.model, "--data", Self.images, "--mean", "0.2860", "--std", "0.3530",
                                         "--limit", "2", "--methods", "gradient,srd", "--checks", "cascading,perturbation",
                                         "--perturbed-models", "2", "--out", dir, "--quiet"])
        try c.compute()
        #expect(FileManager.default.fileExists(atPath: "\(dir)/cascading.png"))
        let schema = Self.root.appendingPathComponent("schemas/sanity.schema.json").path
        let out = try runPython("""
        import json, sys, jsonschema
        report = json.load(open(sys.argv[1])); jsonschema.validate(report, json.load(open(sys.argv[2])))
        print(report["perturbation"]["accepted"], len(report["comparisons"]))
        """, arguments: ["\(dir)/sanity.json", schema])
        let parts = out.split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
        #expect(parts.first == 2)
    }
}

