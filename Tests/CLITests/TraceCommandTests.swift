import ArgumentParser
import CommandLineSupport
import Foundation
import GIGTrace
import Testing
@testable import CLI
@testable import Concepts
@testable import Core
@testable import Datasets

/// `gigtrace trace` through its argument parsing: the built-in demo default, refusing a finished
/// output, bad flags, and a real process stopped with SIGINT that resumes into the same graph.
@Suite(.serialized) struct TraceCommandTests {
    static let stages = "/stage2/relu/Relu_output_0,/stage3/relu/Relu_output_0"
    let dir: String

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("trace-cli-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    /// Small demo settings: 12 images (or `images`), two layers, K = 4, 4 steps, batches of 6.
    func arguments(_ out: String, images: Int = 12, _ extra: [String] = []) -> [String] {
        ["--limit", "\(images)", "--concept-images", "\(images)", "--k", "4", "--steps", "4", "--layers", Self.stages,
         "--batch-size", "6", "--threads", "1", "--prefetch-threads", "0", "--out", out, "--quiet"] + extra
    }

    @Test func tracesTheBuiltInDemoByDefault() throws {
        let out = "\(dir)/demo.sqlite"
        try TraceCommand.parse(arguments(out)).run()
        let reader = try TraceReader.open(out)
        #expect(reader.complete && reader.graph.imageCount == 12)
        #expect(reader.header.model.path.hasSuffix("models/fashion-resnet/model.onnx"))
        #expect(reader.header.model.classNames.first == "T-shirt/top" && reader.header.model.classNames.count == 10)
        let spec = try DatasetSpec.parse(reader.header.preprocessingJSON, origin: "test")
        #expect(spec.data == DemoModel.data && spec.mean == [0.286] && spec.std == [0.353])
        #expect(reader.header.settings.layers == Self.stages.split(separator: ",").map(String.init))

        // A finished output is refused without --force, and left as it was.
        let again = try TraceCommand.parse(arguments(out, images: 6))
        #expect(throws: ExitCode.self) { try again.run() }
        #expect(try TraceReader.open(out).graph.imageCount == 12)
        try TraceCommand.parse(arguments(out, images: 6, ["--force"])).run()
        #expect(try TraceReader.open(out).graph.imageCount == 6)
    }

    @Test func badFlagsAreOneClearError() throws {
        func message(_ extra: [String]) throws -> String {
            do { _ = try TraceRun(try TraceCommand.parse(arguments("\(dir)/bad.sqlite", extra)).traceConfiguration()) } catch let error as any UserError {
                return commandLineMessage(error)
            } catch {
                return TraceCommand.message(for: error)   // refused by the parser
            }
            return ""
        }
        #expect(try message(["--k-per-layer", "4,8"]).contains("one of --k, --k-per-layer and --k-per-channel"))
        #expect(try message(["--k-per-channel", "2"]).contains("one of --k, --k-per-layer and --k-per-channel"))
        #expect(try message(["--shard", "4/4"]).contains("--shard"))
        #expect(try message(["--quadrature", "simpson"]).contains("'simpson' is invalid"))
        #expect(try message(["--concepts", "lda"]).contains("'lda' is invalid"))
        #expect(try message(["--layers", "/stage3/relu/Relu_output_0,/stage2/relu/Relu_output_0"]).contains("must run forward"))
        #expect(try message(["--model", "\(dir)/missing.onnx", "--data", DemoModel.data]).contains("missing.onnx"))
        #expect(try message(["--model", "\(dir)/missing.onnx"]).contains("--data is required"))
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/bad.sqlite"))
    }

    /// `--k-per-channel M` gives each traced layer K = M·C: the demo's stage 2 and 3 outputs have
    /// 32 and 64 channels (`gigtrace inspect`: [N, 32, 14, 14] and [N, 64, 7, 7]), so M = 1 learns 32 and 64 concepts; M = 0
    /// is refused naming the option.
    @Test func conceptsPerChannelScaleWithEachLayer() throws {
        var perLayer = arguments("\(dir)/c.sqlite", images: 24)
        let k = try #require(perLayer.firstIndex(of: "--k"))
        perLayer.removeSubrange(k...(k + 1))
        let run = try TraceRun(try TraceCommand.parse(perLayer + ["--k-per-channel", "1"]).traceConfiguration())
        #expect(run.configuration.conceptsPerLayer == [32, 64])
        do {
            _ = try TraceRun(try TraceCommand.parse(perLayer + ["--k-per-channel", "0"]).traceConfiguration())
            Issue.record("--k-per-channel 0 was accepted")
        } catch let error as any UserError {
            #expect(commandLineMessage(error).hasPrefix("--k-per-channel: "))
        }
    }

    /// Banks written by `gigtrace concepts` are traced with as given (pass 1 skipped); a bank of
    /// another layer is refused naming both layers.
    @Test func conceptBankFilesAreUsedAsGiven() throws {
        let layers = Self.stages.split(separator: ",").map(String.init)
        var paths = [String]()
        for (i, layer) in layers.enumerated() {
            let path = "\(dir)/bank\(i).json"
            try ConceptsCommand.parse(["--data", DemoModel.data, "--model", try DemoModel.locate().model, "--mean", "0.286",
                                       "--std", "0.353", "--limit", "12", "--layer", layer, "--method", "nmf",
                                       "--k", "\(3 + i)", "--threads", "1", "--out", path, "--quiet"]).run()
            paths.append(path)
        }
        let out = "\(dir)/given.sqlite"
        try TraceCommand.parse(arguments(out, images: 6, ["--concept-bank", paths.joined(separator: ",")])).run()
        let header = try TraceReader.open(out).header
        #expect(header.banks.map(\.k) == [3, 4] && header.settings.conceptMethod == "nmf")
        #expect(header.banks[1].concepts.data == (try ConceptBank.read(from: paths[1])).concepts.data)
        let swapped = try TraceCommand.parse(arguments("\(dir)/swapped.sqlite", images: 6,
                                                       ["--concept-bank", paths.reversed().joined(separator: ",")]))
        #expect { try TraceRun(try swapped.traceConfiguration()).run() } throws: { "\($0)".contains(layers[0]) && "\($0)".contains(layers[1]) }
    }

    /// The real executable (built beside this test bundle) stopped by SIGINT checkpoints, exits
    /// 130 saying how to resume, and the same command then finishes the graph an uninterrupted run gives.
    @Test func sigintStopsAndTheSameCommandResumes() throws {
        let exe = try #require(Bundle.main.executableURL).deletingLastPathComponent().appendingPathComponent("gigtrace").path
        #expect(FileManager.default.isExecutableFile(atPath: exe))
        let out = "\(dir)/killed.sqlite"
        let args = ["trace"] + arguments(out, images: 12, ["--checkpoint-every", "1000"])
        let process = Process()
        process.executableURL = URL(fileURLWithPath: exe)
        process.arguments = args
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        // Pass 2 has started once the partial trace exists; stop during its first batch.
        let partial = TraceWriter.partialPath(for: out)
        let deadline = Date().addingTimeInterval(300)
        while !FileManager.default.fileExists(atPath: partial) && process.isRunning && Date() < deadline { usleep(20_000) }
        process.interrupt()
        process.waitUntilExit()
        let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 130, "\(stderr)")
        #expect(stderr.contains("rerun the same command to resume"))
        #expect(FileManager.default.fileExists(atPath: partial) && !FileManager.default.fileExists(atPath: out))

        // Resume and the reference run both in their own process, like the interrupted one: in this
        // test process, tests running in parallel change OpenBLAS's process-wide thread count,
        // and concept learning is only bit-reproducible at a fixed thread count.
        func runToEnd(_ arguments: [String]) throws {
            let child = Process()
            child.executableURL = URL(fileURLWithPath: exe)
            child.arguments = arguments
            try child.run()
            child.waitUntilExit()
            #expect(child.terminationStatus == 0, "gigtrace \(arguments.joined(separator: " "))")
        }
        try runToEnd(args)
        let whole = "\(dir)/whole.sqlite"
        try runToEnd(["trace"] + arguments(whole, images: 12, ["--checkpoint-every", "1000"]))
        let (a, b) = (try TraceReader.open(out), try TraceReader.open(whole))
        #expect(a.complete && a.graph.imageCount == 12)
        #expect(a.graph.exemplars == b.graph.exemplars)
        #expect(a.graph.nodes.joined().map(\.imagesActive) == b.graph.nodes.joined().map(\.imagesActive))
        for (x, y) in zip(a.graph.layerEdges + a.graph.classEdges, b.graph.layerEdges + b.graph.classEdges) {
            #expect(x.all.activeCount == y.all.activeCount)
            #expect(zip(x.all.sum, y.all.sum).allSatisfy { abs($0 - $1) <= 1e-9 * max(1, abs($0)) })
        }
        #expect(a.header == b.header)
    }
}
