import ArgumentParser
import CommandLineSupport
import Foundation
import GIGTrace
import TestSupport
import Testing
@testable import CLI
@testable import CNN
@testable import Core

/// `inspect`, `forward` and `gradient` end to end, through their argument parsing, against
/// PyTorch, with fixtures written by tools/make_fixtures.py: the small ResNet and a torchvision-style
/// ResNet-18 at widths 8/16/32/64 and 3×64×64 (both committed), and optionally the full-size
/// ResNet-18 at 3×224×224 (≈ 45 MB, generated only where PyTorch is installed, see `resnet18Command`).
@Suite struct EngineCommandTests {
    static let small = TestPaths.fixture("small_resnet")
    static let resnet18Small = TestPaths.fixture("resnet18_small")
    static let resnet18 = TestPaths.fixture("generated/resnet18")
    static let resnet18Command = "python3 tools/make_fixtures.py --resnet18 Tests/Fixtures/generated/resnet18"
    /// Whether the optional full-size ResNet-18 fixture has been generated.
    static let hasFullResNet18 = FileManager.default.fileExists(atPath: resnet18 + "/manifest.json")
    static let exports = ["legacy_folded.onnx", "legacy_bn.onnx", "dynamo.onnx"]

    let dir: String
    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("engine-cli-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    /// One fixture folder's manifest.json (written by tools/make_fixtures.py).
    static func manifest(_ folder: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: folder + "/manifest.json"))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// The ONNX name of the block output recorded for `file` in `folder`'s manifest.
    static func blockTensor(_ folder: String, _ file: String) throws -> String {
        let files = try #require(try manifest(folder)["files"] as? [String: Any])
        let info = try #require(files[file] as? [String: Any])
        return try #require(info["block_tensor"] as? String)
    }

    static func read(_ path: String) throws -> Tensor {
        try Npy.read(path: path).floatTensor(path: path)
    }

    /// `path` matches the PyTorch array `reference`: same shape, max |diff| ≤ `tol` · max |reference|.
    static func expectMatches(_ path: String, _ reference: String, tol: Float = 1e-4,
                              sourceLocation: SourceLocation = #_sourceLocation) throws {
        let a = try read(path), b = try read(reference)
        #expect(a.shape == b.shape, "\(path): shape \(a.shape) vs \(b.shape)", sourceLocation: sourceLocation)
        let scale = b.data.reduce(Float(0)) { max($0, abs($1)) }
        let worst = zip(a.data, b.data).reduce(Float(0)) { max($0, abs($1.0 - $1.1)) }
        #expect(scale > 0 && worst <= tol * scale,
                "\(path) vs \(reference): max |diff| \(worst), max |reference| \(scale)", sourceLocation: sourceLocation)
    }

    /// `path` matches `reference` up to float32 ReLU/MaxPool decisions: relative L2 error ≤ 1e-2 and
    /// at most 2 % of the elements off by more than 1e-3 · max |reference|.
    ///
    /// Why not 1e-4 everywhere: ResNet-18 has ~2.5 M ReLUs per image with pre-activations ~N(0, 1),
    /// so float32 rounding (~1e-6) flips a few ReLU masks or MaxPool argmaxes per image between any
    /// two float32 implementations, and each flip moves the input gradient over one receptive
    /// field. PyTorch's own float32 input gradient of this fixture is 0.16 % (L2) and up to 0.7 %
    /// of the maximum away from its float64 one, in ~135 separate blobs; the engine shares those
    /// blobs and has one more (0.43 % L2 from PyTorch float32, 0.8 % of elements off by > 1e-3 · max).
    /// Logits, layer4 and the layer4 gradient (no ReLU after layer4) are held to 1e-4.
    static func expectMatchesUpToFlips(_ path: String, _ reference: String,
                                       sourceLocation: SourceLocation = #_sourceLocation) throws {
        let a = try read(path), b = try read(reference)
        #expect(a.shape == b.shape, "\(path): shape \(a.shape) vs \(b.shape)", sourceLocation: sourceLocation)
        let scale = b.data.reduce(Float(0)) { max($0, abs($1)) }
        var diff2 = 0.0, ref2 = 0.0, off = 0
        for (x, y) in zip(a.data, b.data) {
            diff2 += Double(x - y) * Double(x - y)
            ref2 += Double(y) * Double(y)
            if abs(x - y) > 1e-3 * scale { off += 1 }
        }
        let relL2 = (diff2 / max(ref2, 1e-300)).squareRoot(), share = Double(off) / Double(max(1, b.count))
        #expect(scale > 0 && relL2 <= 1e-2 && share <= 0.02,
                "\(path) vs \(reference): relative L2 \(relL2), share off by > 1e-3·max \(share)", sourceLocation: sourceLocation)
    }

    /// The error `body` throws, as the one line the CLI prints.
    static func message(_ body: () throws -> Void) -> String {
        do {
            try body()
            return "(no error)"
        } catch {
            return commandLineMessage(error)
        }
    }

    /// A little-endian NumPy v1.0 file with the given dtype and raw payload.
    static func writeRawNpy(_ path: String, descr: String, shape: [Int], payload: Data) throws {
        let dims = shape.map(String.init).joined(separator: ", ") + (shape.count == 1 ? "," : "")
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': (\(dims)), }"
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count & 0xff), UInt8(header.utf8.count >> 8)])
        data.append(Data(header.utf8))
        data.append(payload)
        try data.write(to: URL(fileURLWithPath: path))
    }

    // MARK: inspect

    @Test(arguments: exports)
    func inspectJSONMatchesManifest(_ file: String) throws {
        let command = try InspectCommand.parse(["--model", Self.small + "/" + file, "--json"])
        let json = try #require(try JSONSerialization.jsonObject(with: Data(try command.report().utf8)) as? [String: Any])
        let inputs = try #require(json["inputs"] as? [[String: Any]])
        #expect(inputs.count == 1 && inputs[0]["name"] as? String == "input" && inputs[0]["shape"] as? [Int] == [3, 32, 32])
        let outputs = try #require(json["outputs"] as? [[String: Any]])
        #expect(outputs.count == 1 && outputs[0]["name"] as? String == "logits" && outputs[0]["shape"] as? [Int] == [10])

        // Op counts as the ONNX file has them (manifest from the onnx package); BN appears folded.
        let files = try #require(try Self.manifest(Self.small)["files"] as? [String: Any])
        let info = try #require(files[file] as? [String: Any])
        let ops = try #require(info["op_types"] as? [String: Int])
        let counts = try #require(json["op_counts"] as? [String: Int])
        for (op, n) in ops where op != "BatchNormalization" { #expect(counts[op] == n, "\(file): \(op)") }
        #expect(counts["BatchNormalization (folded)"] == ops["BatchNormalization"])
        #expect(json["opset"] as? Int == info["opset"] as? Int)

        let block = try Self.blockTensor(Self.small, file)
        let tensors = try #require(json["tensors"] as? [[String: Any]])
        let entry = try #require(tensors.first { $0["name"] as? String == block })
        #expect(entry["shape"] as? [Int] == [8, 16, 16] && entry["op"] as? String == "Relu")
        #expect(tensors.count == 1 + ops.filter { $0.key != "BatchNormalization" }.values.reduce(0, +))
        let suggested = try #require(json["suggested_trace_layers"] as? [String])
        #expect(suggested.count == 2 && suggested.first == block)
    }

    @Test func inspectText() throws {
        let block = try Self.blockTensor(Self.small, "legacy_bn.onnx")
        let text = try InspectCommand.parse(["--model", Self.small + "/legacy_bn.onnx"]).report()
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines.contains("input:  input [N, 3, 32, 32]"))
        #expect(lines.contains("output: logits [N, 10]"))
        #expect(lines.contains("  Conv: 6") && lines.contains("  BatchNormalization (folded): 6"))
        #expect(lines.contains("  \(block) [N, 8, 16, 16]  <- Relu"))
        let suggested = try #require(lines.firstIndex(of: "suggested trace layers:"))
        #expect(lines[suggested + 1] == "  \(block) [N, 8, 16, 16]")
    }

    // MARK: forward and gradient against PyTorch

    @Test func fileNamesReplaceSlashesAndColons() {
        #expect(ForwardCommand.fileName("/block1/relu_1/Relu_output_0") == "_block1_relu_1_Relu_output_0.npy")
        #expect(ForwardCommand.fileName("onnx::Conv_89") == "onnx__Conv_89.npy")
    }

    @Test(arguments: exports)
    func forwardMatchesPyTorch(_ file: String) throws {
        let block = try Self.blockTensor(Self.small, file)
        // Batches of 3 and 1 (not the export's 4), 2 threads: the per-image worker split is used.
        try ForwardCommand.parse(["--model", Self.small + "/" + file, "--input", Self.small + "/inputs.npy",
                                  "--tensors", "\(block),logits", "--out", dir, "--batch-size", "3",
                                  "--threads", "2", "--quiet"]).run()
        try Self.expectMatches(dir + "/logits.npy", Self.small + "/logits.npy")
        try Self.expectMatches(dir + "/" + ForwardCommand.fileName(block), Self.small + "/block.npy")
        let written = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        #expect(written == [ForwardCommand.fileName(block), "logits.npy"].sorted())
    }

    @Test(arguments: exports)
    func gradientMatchesPyTorch(_ file: String) throws {
        let model = Self.small + "/" + file, input = Self.small + "/inputs.npy"
        try GradientCommand.parse(["--model", model, "--input", input, "--labels", Self.small + "/targets.npy",
                                   "--out", dir + "/gx.npy", "--batch-size", "3", "--quiet"]).run()
        try Self.expectMatches(dir + "/gx.npy", Self.small + "/input_grad.npy")
        let block = try Self.blockTensor(Self.small, file)
        try GradientCommand.parse(["--model", model, "--input", input, "--labels", Self.small + "/targets.npy",
                                   "--wrt", block, "--out", dir + "/gb.npy", "--threads", "2", "--quiet"]).run()
        try Self.expectMatches(dir + "/gb.npy", Self.small + "/block_grad.npy")
        // --target: the same class for every image; image 0's fixture target is 3.
        try GradientCommand.parse(["--model", model, "--input", input, "--target", "3",
                                   "--out", dir + "/g3.npy", "--threads", "1", "--quiet"]).run()
        let g3 = try Self.read(dir + "/g3.npy"), reference = try Self.read(Self.small + "/input_grad.npy")
        #expect(g3.shape == reference.shape)
        let per = reference.count / reference.shape[0]
        let scale = reference.data[0..<per].reduce(Float(0)) { max($0, abs($1)) }
        let worst = zip(g3.data[0..<per], reference.data[0..<per]).reduce(Float(0)) { max($0, abs($1.0 - $1.1)) }
        #expect(worst <= 1e-4 * scale)
        // Images 1–3 have other fixture targets, so their gradients for class 3 must differ.
        #expect(zip(g3.data[per...], reference.data[per...]).contains { abs($0 - $1) > 1e-3 * scale })
    }

    /// ResNet-18 in torchvision layout at widths 8/16/32/64, 3×64×64, batch of 2 (committed, both
    /// exporters): logits, layer4, and the gradients of the target logits w.r.t. the input and layer4.
    @Test(arguments: ["legacy.onnx", "dynamo.onnx"])
    func resnet18SmallMatchesPyTorch(_ file: String) throws {
        try checkResNet18(Self.resnet18Small, file)
    }

    /// The same check on the full-size ResNet-18 at 3×224×224: optional, because its fixture is
    /// generated (≈ 45 MB, needs PyTorch); `.ci/run` generates it where a local CPU wheel of
    /// PyTorch exists. Without it the test is reported as skipped with the command that makes it.
    @Test(.enabled(if: hasFullResNet18,
                   "full-size ResNet-18 fixture not generated; make it with `\(resnet18Command)` (needs torch)"))
    func resnet18MatchesPyTorch() throws {
        try checkResNet18(Self.resnet18, "resnet18.onnx")
    }

    /// `forward` and `gradient` on a ResNet-18 fixture folder of tools/make_fixtures.py (input.npy,
    /// targets.npy, logits.npy, layer4.npy, input_grad.npy, layer4_grad.npy). Logits, layer4 and the
    /// layer4 gradient are held to 1e-4; the input gradient up to ReLU flips (`expectMatchesUpToFlips`).
    func checkResNet18(_ folder: String, _ file: String) throws {
        let model = folder + "/" + file, input = folder + "/input.npy"
        let layer4 = try Self.blockTensor(folder, file)
        try ForwardCommand.parse(["--model", model, "--input", input, "--tensors", layer4, "--out", dir,
                                  "--threads", "2", "--quiet"]).run()
        try Self.expectMatches(dir + "/logits.npy", folder + "/logits.npy")
        try Self.expectMatches(dir + "/" + ForwardCommand.fileName(layer4), folder + "/layer4.npy")
        try GradientCommand.parse(["--model", model, "--input", input, "--labels", folder + "/targets.npy",
                                   "--out", dir + "/gx.npy", "--threads", "2", "--quiet"]).run()
        try Self.expectMatchesUpToFlips(dir + "/gx.npy", folder + "/input_grad.npy")
        try GradientCommand.parse(["--model", model, "--input", input, "--labels", folder + "/targets.npy",
                                   "--wrt", layer4, "--out", dir + "/g4.npy", "--threads", "2", "--quiet"]).run()
        try Self.expectMatches(dir + "/g4.npy", folder + "/layer4_grad.npy")
    }

    // MARK: bad input: one clear error, non-zero exit, no crash

    @Test func corruptAndTruncatedONNX() throws {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: Self.small + "/legacy_folded.onnx"))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: dir + "/truncated.onnx"))
        try Data("this is not a protobuf\n".utf8).write(to: URL(fileURLWithPath: dir + "/text.onnx"))
        try Data().write(to: URL(fileURLWithPath: dir + "/empty.onnx"))
        for name in ["truncated.onnx", "text.onnx", "empty.onnx"] {
            let path = dir + "/" + name
            let text = Self.message { _ = try InspectCommand.parse(["--model", path]).report() }
            #expect(text.hasPrefix(path + ": ") && !text.contains("\n"), "\(text)")
            #expect(throws: ExitCode.self) { try InspectCommand.parse(["--model", path]).run() }
        }
        #expect(Self.message { _ = try InspectCommand.parse(["--model", dir + "/truncated.onnx"]).report() }.contains("truncated"))
        #expect(Self.message { _ = try InspectCommand.parse(["--model", dir + "/missing.onnx"]).report() } == "file not found: \(dir)/missing.onnx")
        let forward = try ForwardCommand.parse(["--model", dir + "/truncated.onnx", "--input", Self.small + "/inputs.npy",
                                                "--out", dir, "--quiet"])
        #expect(throws: ExitCode.self) { try forward.run() }
    }

    @Test func unknownOpNamesOpAndNode() throws {
        // "MaxPool" → "MinPool" everywhere (op type, node and tensor names): same length, so the
        // protobuf stays valid and only the op is unknown.
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Self.small + "/legacy_folded.onnx")))
        let from = Array("MaxPool".utf8), to = Array("MinPool".utf8)
        var replaced = 0
        for i in 0...(bytes.count - from.count) where Array(bytes[i..<(i + from.count)]) == from {
            bytes.replaceSubrange(i..<(i + from.count), with: to)
            replaced += 1
        }
        #expect(replaced >= 2)
        let path = dir + "/minpool.onnx"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let text = Self.message { _ = try InspectCommand.parse(["--model", path]).report() }
        #expect(text == "unsupported ONNX operator 'MinPool' in node '/maxpool/MinPool'")
        let gradient = try GradientCommand.parse(["--model", path, "--input", Self.small + "/inputs.npy",
                                                  "--target", "1", "--out", dir + "/g.npy", "--quiet"])
        #expect(throws: ExitCode.self) { try gradient.run() }
    }

    @Test func inputOfWrongShapeOrDtype() throws {
        let model = Self.small + "/legacy_folded.onnx"
        let small = Tensor(shape: [2, 3, 16, 16])
        try Npy.write(small, to: dir + "/small.npy")
        let shape = Self.message {
            try ForwardCommand.parse(["--model", model, "--input", dir + "/small.npy", "--out", dir, "--quiet"]).execute()
        }
        #expect(shape == "\(dir)/small.npy: shape mismatch: input 'input' expects [N, 3, 32, 32], got [2, 3, 16, 16]")
        try Self.writeRawNpy(dir + "/f64.npy", descr: "<f8", shape: [1, 3, 32, 32], payload: Data(count: 8 * 3 * 32 * 32))
        let dtype = Self.message {
            try GradientCommand.parse(["--model", model, "--input", dir + "/f64.npy", "--target", "0",
                                       "--out", dir + "/g.npy", "--quiet"]).execute()
        }
        #expect(dtype == "\(dir)/f64.npy: expected a float32 array, found float64")
        try Self.writeRawNpy(dir + "/labels.npy", descr: "<f4", shape: [4], payload: Data(count: 16))
        let labels = Self.message {
            try GradientCommand.parse(["--model", model, "--input", Self.small + "/inputs.npy", "--labels", dir + "/labels.npy",
                                       "--out", dir + "/g.npy", "--quiet"]).execute()
        }
        #expect(labels == "\(dir)/labels.npy: expected an int64 array, found float32")
        try Data([0x93] + Array("NUMPY".utf8) + [1, 0, 200, 0]).write(to: URL(fileURLWithPath: dir + "/cut.npy"))
        let cut = Self.message {
            try ForwardCommand.parse(["--model", model, "--input", dir + "/cut.npy", "--out", dir, "--quiet"]).execute()
        }
        #expect(cut.hasPrefix("\(dir)/cut.npy: not a valid .npy file"))
        let range = Self.message {
            try GradientCommand.parse(["--model", model, "--input", Self.small + "/inputs.npy", "--target", "10",
                                       "--out", dir + "/g.npy", "--quiet"]).execute()
        }
        #expect(range == "target class 10 out of range 0..<10 for output 'logits'")
        let run = try ForwardCommand.parse(["--model", model, "--input", dir + "/f64.npy", "--out", dir, "--quiet"])
        #expect(throws: ExitCode.self) { try run.run() }
        #expect(!FileManager.default.fileExists(atPath: dir + "/g.npy") && !FileManager.default.fileExists(atPath: dir + "/logits.npy"))
    }

    @Test func unknownTensorListsExistingOnes() throws {
        let model = Self.small + "/legacy_folded.onnx"
        let block = try Self.blockTensor(Self.small, "legacy_folded.onnx")
        let forward = Self.message {
            try ForwardCommand.parse(["--model", model, "--input", Self.small + "/inputs.npy", "--tensors", "logits,block1",
                                      "--out", dir, "--quiet"]).execute()
        }
        #expect(forward.hasPrefix("no tensor named 'block1'; available: input, ") && forward.contains(block) && !forward.contains("\n"))
        let gradient = Self.message {
            try GradientCommand.parse(["--model", model, "--input", Self.small + "/inputs.npy", "--target", "1",
                                       "--wrt", "relu9", "--out", dir + "/g.npy", "--quiet"]).execute()
        }
        #expect(gradient.hasPrefix("no tensor named 'relu9'; available: input, ") && gradient.contains("logits"))
        let run = try GradientCommand.parse(["--model", model, "--input", Self.small + "/inputs.npy", "--target", "1",
                                             "--wrt", "relu9", "--out", dir + "/g.npy", "--quiet"])
        #expect(throws: ExitCode.self) { try run.run() }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)
    }

    @Test func targetAndLabelsAreExclusive() throws {
        let args = ["--model", Self.small + "/legacy_folded.onnx", "--input", Self.small + "/inputs.npy",
                    "--out", dir + "/g.npy", "--quiet"]
        let neither = Self.message { try GradientCommand.parse(args).execute() }
        let both = Self.message {
            try GradientCommand.parse(args + ["--target", "1", "--labels", Self.small + "/targets.npy"]).execute()
        }
        #expect(neither == "give exactly one of --target and --labels" && both == neither)
    }

    /// An output folder that cannot be created is refused before the model is even loaded: the
    /// model path here does not exist, so an error about the model would mean work came first.
    @Test func forwardChecksItsOutputFolderBeforeWork() throws {
        let blocker = dir + "/a-file"
        try Data("x".utf8).write(to: URL(fileURLWithPath: blocker))
        let message = Self.message {
            try ForwardCommand.parse(["--model", dir + "/missing.onnx", "--input", Self.small + "/inputs.npy",
                                      "--out", blocker + "/maps", "--quiet"]).execute()
        }
        #expect(message.contains("cannot create folder \(blocker)/maps"))
        #expect(!message.contains("missing.onnx"))
        // A missing folder that can be created is created.
        try ForwardCommand.parse(["--model", Self.small + "/legacy_folded.onnx", "--input", Self.small + "/inputs.npy",
                                  "--out", dir + "/new/maps", "--quiet"]).execute()
        #expect(FileManager.default.fileExists(atPath: dir + "/new/maps/logits.npy"))
    }
}
