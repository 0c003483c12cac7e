import ArgumentParser
import Foundation
import GIGTrace
import TestSupport
import Testing
@testable import CLI
@testable import CommandLineSupport
@testable import Core

/// Issue 12 through the real `gigtrace` executable: inputs are never overwritten, a folder is
/// never an output, negative numbers get a message about the value, header bombs are skipped with
/// --skip-bad, labels outside the classes and NaN images are named, and Ctrl-C in pass 1 stops.
@Suite(.serialized) struct HardeningCommandTests {
    static let stages = "/stage2/relu/Relu_output_0,/stage3/relu/Relu_output_0"
    static let fuzz = TestPaths.fixture("fuzz")
    let dir: String
    init() throws { dir = try makeTemporaryFolder("hardening-cli") }

    /// Runs the built `gigtrace` with `arguments`; returns exit status and stderr.
    func gigtrace(_ arguments: [String], interruptAfter seconds: Double? = nil) throws -> (status: Int32, stderr: String, stopSeconds: Double) {
        let exe = try #require(Bundle.main.executableURL).deletingLastPathComponent().appendingPathComponent("gigtrace").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: exe)
        process.arguments = arguments
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        var stopSeconds = 0.0
        if let seconds {
            usleep(UInt32(seconds * 1_000_000))
            let stop = Date()
            process.interrupt()
            process.waitUntilExit()
            stopSeconds = Date().timeIntervalSince(stop)
        }
        let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, stderr, stopSeconds)
    }

    /// Small demo trace settings (12 images, two layers, K = 2, 2 steps).
    func traceArguments(_ out: String, images: Int = 12, _ extra: [String] = []) -> [String] {
        ["trace", "--limit", "\(images)", "--concept-images", "\(images)", "--k", "2", "--steps", "2", "--layers", Self.stages,
         "--batch-size", "6", "--threads", "1", "--prefetch-threads", "0", "--out", out, "--quiet"] + extra
    }

    func checksum(_ path: String) throws -> String { try SHA256.hex(ofFile: path) }

    // MARK: inputs are never outputs

    @Test func outputNamingAnInputIsRefusedEvenWithForce() throws {
        // Copies of the demo model and data, reached directly, through a symbolic link and a hard link.
        let model = "\(dir)/model.onnx", data = "\(dir)/images-idx3-ubyte.gz"
        try FileManager.default.copyItem(atPath: TestPaths.demoModel, toPath: model)
        try FileManager.default.copyItem(atPath: TestPaths.fashionMNISTTestImages, toPath: data)
        try FileManager.default.createSymbolicLink(atPath: "\(dir)/link.onnx", withDestinationPath: model)
        try FileManager.default.linkItem(atPath: data, toPath: "\(dir)/hard.gz")
        let before = (try checksum(model), try checksum(data))
        let base = ["--model", model, "--data", data, "--mean", "0.286", "--std", "0.353"]
        for out in [model, "\(dir)/link.onnx", "\(dir)/hard.gz", "\(dir)/../\(URL(fileURLWithPath: dir).lastPathComponent)/model.onnx"] {
            let r = try gigtrace(traceArguments(out, base + ["--force"]))
            #expect(r.status == 1 && r.stderr.contains("is the same file as the input --"), "\(out): \(r.stderr)")
            #expect(r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
        }
        let r = try gigtrace(["dataset", "export", "--data", data, "--limit", "2", "--out", "\(dir)/hard.gz"])
        #expect(r.status == 1 && r.stderr.contains("--out \(dir)/hard.gz is the same file as the input --data \(data)"), "\(r.stderr)")
        #expect(try checksum(model) == before.0 && checksum(data) == before.1)

        // export --out naming the trace, with --force.
        let trace = "\(dir)/t.sqlite"
        #expect(try gigtrace(traceArguments(trace, images: 6, base)).status == 0)
        let traced = try checksum(trace)
        let e = try gigtrace(["export", trace, "--format", "json", "--out", trace, "--force"])
        #expect(e.status == 1 && e.stderr == "error: --out \(trace) is the same file as the input TRACE \(trace); write the output elsewhere (an input is never overwritten, even with --force)\n")
        #expect(try checksum(trace) == traced)
        let m = try gigtrace(["merge", trace, trace, "--force"])
        #expect(m.status == 1 && m.stderr.contains("is the same file as the input SHARD"), "\(m.stderr)")
    }

    /// Commands that write files replace an existing one only with --force (dataset export,
    /// gradient and erf used to overwrite silently).
    @Test func anExistingOutputNeedsForce() throws {
        let out = "\(dir)/x.npy", input = "\(dir)/in.npy"
        let data = ["--data", TestPaths.fashionMNISTTestImages, "--limit", "2"]
        let model = ["--model", TestPaths.demoModel]
        let first = try gigtrace(["dataset", "export"] + data + ["--out", input, "--quiet"])
        #expect(first.status == 0, "\(first.stderr)")
        try Data("keep".utf8).write(to: URL(fileURLWithPath: out))
        let runs: [[String]] = [
            ["dataset", "export"] + data + ["--out", out],
            ["erf"] + model + data + ["--image", "0", "--layer", "/stage1/relu/Relu_output_0", "--position", "3,3", "--out", out],
            ["gradient"] + model + ["--input", input, "--target", "0", "--out", out],
        ]
        for arguments in runs {
            let r = try gigtrace(arguments)
            #expect(r.status == 1 && r.stderr == "error: \(out) already exists (pass --force to overwrite it)\n", "\(arguments[0]): \(r.stderr)")
            #expect(try String(contentsOfFile: out, encoding: .utf8) == "keep")
        }
        let forced = try gigtrace(["dataset", "export"] + data + ["--out", out, "--force", "--quiet"])
        #expect(forced.status == 0, "\(forced.stderr)")
        let size = try FileManager.default.attributesOfItem(atPath: out)[.size] as? Int
        #expect(size == 128 + 2 * 28 * 28 * 4, "\(String(describing: size))")
    }

    @Test func aFolderAsOutputIsRefusedBeforeWork() throws {
        let start = Date()
        let r = try gigtrace(traceArguments(dir, ["--force"]))
        #expect(r.status == 1 && r.stderr == "error: --out \(dir) is a folder; name a file to write\n")
        #expect(Date().timeIntervalSince(start) < 10)
        let e = try gigtrace(["dataset", "export", "--data", TestPaths.fashionMNISTTestImages, "--limit", "2", "--out", dir])
        #expect(e.stderr == "error: --out \(dir) is a folder; name a file to write\n")
    }

    // MARK: option values

    @Test func negativeNumbersGetAMessageAboutTheValue() throws {
        let k = try gigtrace(["trace", "--k", "-3", "--out", "\(dir)/k.sqlite"])
        #expect(k.status != 0 && k.stderr.contains("the number of concepts K must be at least 1, got -3"), "\(k.stderr)")
        let steps = try gigtrace(["trace", "--steps", "-1", "--out", "\(dir)/s.sqlite"])
        #expect(steps.status != 0 && steps.stderr.contains("--steps: steps must be at least"), "\(steps.stderr)")
        let lambda = try gigtrace(["trace", "--lambda", "nan", "--out", "\(dir)/l.sqlite"])
        #expect(lambda.status == 1 && lambda.stderr == "error: --lambda: lambda must be a finite number ≥ 0, got nan\n", "\(lambda.stderr)")
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/l.sqlite.partial"))
        let limit = try gigtrace(["dataset", "export", "--data", TestPaths.fashionMNISTTestImages, "--resize", "200000", "--out", "\(dir)/x.npy"])
        #expect(limit.stderr.contains("--resize: resize 200000 makes images of at least 200000×200000 pixels"), "\(limit.stderr)")
        for args in [["--k", "-3"], ["--steps", "-1"]] {
            #expect(!(try gigtrace(["trace"] + args + ["--out", "\(dir)/y.sqlite"])).stderr.contains("Missing value"))
        }
    }

    /// Each module's typed error (Core's InputError, CNN's ModelError, Datasets' DatasetError,
    /// PFV's PFVError, Concepts' ConceptError, GIGTrace's TraceError, and a library parameter the
    /// CLI names by its option) reaches the user as exactly one line on stderr with exit status 1.
    @Test func everyModulesErrorsAreOneLineWithExitOne() throws {
        let model = TestPaths.demoModel, data = TestPaths.fashionMNISTTestImages
        let stage1 = "/stage1/relu/Relu_output_0", stage2 = "/stage2/relu/Relu_output_0", stage3 = "/stage3/relu/Relu_output_0"
        try FileManager.default.createDirectory(atPath: "\(dir)/empty", withIntermediateDirectories: true)
        try Data().write(to: URL(fileURLWithPath: "\(dir)/exists.sqlite"))
        let cases: [(arguments: [String], line: String)] = [
            (["inspect", "--model", "\(dir)/none.onnx"], "file not found: \(dir)/none.onnx"),
            (["trace", "--model", model, "--data", data, "--layers", "/stage9/relu", "--out", "\(dir)/a.sqlite", "--quiet"],
             "no tensor named '/stage9/relu'; available: input, "),
            (["dataset", "info", "--data", "\(dir)/empty", "--format", "folder"],
             "\(dir)/empty: no class sub-folders found (ImageFolder layout is PATH/<class>/<image>)"),
            (["erf", "--model", model, "--data", data, "--image", "0", "--layer", stage1, "--position", "99,0", "--out", "\(dir)/e.npy"],
             "position (99, 0) is outside layer '\(stage1)': h must be in 0..<28, w in 0..<28"),
            (["concepts", "--model", model, "--data", data, "--limit", "8", "--layer", stage3, "--method", "pca", "--k", "500",
              "--out", "\(dir)/b.json", "--quiet"], "PCA: K = 500 must be between 1 and min(PFVs, channels)"),
            (["trace", "--model", model, "--data", data, "--layers", "\(stage3),\(stage2)", "--out", "\(dir)/c.sqlite", "--quiet"],
             "traced layers must run forward, each computed from the one before alone: '\(stage2)' cannot be computed from '\(stage3)'"),
            (["dataset", "export", "--data", data, "--limit", "2", "--batch-size", "0", "--out", "\(dir)/n.npy"],
             "--batch-size: batch size must be positive, got 0"),
            (["trace", "--model", model, "--data", data, "--out", "\(dir)/exists.sqlite", "--quiet"],
             "\(dir)/exists.sqlite already exists (pass --force to overwrite it)"),
        ]
        for (arguments, line) in cases {
            let r = try gigtrace(arguments)
            #expect(r.status == 1, "\(arguments): exit \(r.status)")
            #expect(r.stderr.hasPrefix("error: \(line)") && r.stderr.hasSuffix("\n"), "\(arguments): \(r.stderr)")
            #expect(r.stderr.split(separator: "\n").count == 1, "\(arguments): \(r.stderr)")
        }
    }

    /// `commandLineMessage` names the option of every library parameter and joins a multi-line
    /// message into one line.
    @Test func commandLineMessagesNameTheOption() {
        #expect(commandLineMessage(InputError.invalidParameter(.conceptsPerLayer, "K per layer has 3 values for 2 traced layers"))
                == "--k-per-layer: K per layer has 3 values for 2 traced layers")
        #expect(Set(Parameter.allCases.map(\.option)).count == Parameter.allCases.count)
        #expect(Parameter.allCases.allSatisfy { $0.option.hasPrefix("--") })
        #expect(commandLineMessage(TraceError.invalidTrace("two\nlines")) == "two lines")
        #expect(commandLineMessage(InputError.outputExists("g.dot")) == "g.dot already exists (pass --force to overwrite it)")
    }

    @Test func queryImageIndexMustBeNonNegative() throws {
        let trace = "\(dir)/q.sqlite"
        #expect(try gigtrace(traceArguments(trace, images: 6)).status == 0)
        let r = try gigtrace(["query", trace, "image", "-1"])
        #expect(r.status != 0 && r.stderr.contains("image index must be ≥ 0, got -1"), "\(r.stderr)")
        #expect(try gigtrace(["query", trace, "image", "2"]).status == 0)
    }

    // MARK: datasets

    /// The acceptance case: a folder with a PNG and a JPEG header bomb traces its good images.
    @Test func skipBadTracesAFolderWithHeaderBombs() throws {
        let root = "\(dir)/folder"
        try FileManager.default.copyItem(atPath: TestPaths.fixture("preprocessing/folder"), toPath: root)
        try FileManager.default.copyItem(atPath: "\(Self.fuzz)/png/header_bomb_100000x100000.png", toPath: "\(root)/cat/bomb.png")
        try FileManager.default.copyItem(atPath: "\(Self.fuzz)/jpeg/header_bomb_65500x65500.jpg", toPath: "\(root)/dog/bomb.jpg")
        let data = ["--data", root, "--channels", "1", "--resize", "28", "--crop", "28", "--mean", "0.286", "--std", "0.353"]
        let strict = try gigtrace(traceArguments("\(dir)/strict.sqlite", images: 8, data))
        #expect(strict.status == 1 && strict.stderr.contains("bomb.png: PNG header declares 100000×100000 pixels"), "\(strict.stderr)")
        let out = "\(dir)/bombs.sqlite"
        let r = try gigtrace(traceArguments(out, images: 8, data + ["--skip-bad"]))
        #expect(r.status == 0, "\(r.stderr)")
        let reader = try TraceReader.open(out)
        #expect(reader.complete && reader.graph.imageCount == 6)
        // export of the same folder skips them too.
        let e = try gigtrace(["dataset", "export"] + data + ["--skip-bad", "--out", "\(dir)/bombs.npy"])
        #expect(e.status == 0 && e.stderr.contains("wrote \(dir)/bombs.npy: 6x1x28x28 float32 (2 unreadable images skipped)"), "\(e.stderr)")
    }

    @Test func labelsOutsideTheClassesAndNaNImagesAreNamed() throws {
        let images = "\(dir)/x.npy", labels = "\(dir)/y.npy"
        _ = try runPython("""
            import numpy as np, sys
            x = np.random.default_rng(0).random((8, 1, 28, 28), dtype=np.float32)
            np.save(sys.argv[1], x)
            np.save(sys.argv[2], np.array([0, 255, 1, 2, 3, 4, 5, 6], dtype=np.int64))
            x[2, 0, 3, 4] = np.nan
            np.save(sys.argv[3], x)
            np.save(sys.argv[4], np.arange(8, dtype=np.int64))
            """, arguments: [images, labels, "\(dir)/nan.npy", "\(dir)/ok.npy"])
        let base = ["--model", TestPaths.demoModel]
        let bad = try gigtrace(traceArguments("\(dir)/l.sqlite", images: 8, base + ["--data", images, "--labels", labels]))
        #expect(bad.status == 1 && bad.stderr.contains("image 1 (\(images)#1) has label 255, outside the model's 10 classes 0..<10"), "\(bad.stderr)")
        let skip = try gigtrace(traceArguments("\(dir)/l.sqlite", images: 8, base + ["--data", images, "--labels", labels, "--skip-bad"]))
        #expect(skip.status == 0, "\(skip.stderr)")
        #expect(try TraceReader.open("\(dir)/l.sqlite").images().map(\.index) == [0, 2, 3, 4, 5, 6, 7])
        let nan = try gigtrace(traceArguments("\(dir)/n.sqlite", images: 8, base + ["--data", "\(dir)/nan.npy", "--labels", "\(dir)/ok.npy"]))
        #expect(nan.status == 1 && nan.stderr.contains("nan.npy#2: image 2 contains a non-finite value (nan)"), "\(nan.stderr)")
    }

    @Test func classesTxtWithOddWhitespaceMustMatchTheLogits() throws {
        let folder = "\(dir)/m"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: TestPaths.demoModel, toPath: "\(folder)/model.onnx")
        // Ten names, one holding a vertical tab: read as ten, the tab kept inside the name.
        let names = (0..<10).map { $0 == 3 ? "three\u{0B}tab" : "c\($0)" }
        try Data((names.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: "\(folder)/classes.txt"))
        let out = "\(dir)/c.sqlite"
        let args = ["--model", "\(folder)/model.onnx", "--data", TestPaths.fashionMNISTTestImages, "--mean", "0.286", "--std", "0.353"]
        #expect(try gigtrace(traceArguments(out, images: 6, args)).status == 0)
        #expect(try TraceReader.open(out).header.model.classNames == names)
        try Data("a\nb\n".utf8).write(to: URL(fileURLWithPath: "\(folder)/classes.txt"))
        let r = try gigtrace(traceArguments("\(dir)/c2.sqlite", images: 6, args))
        #expect(r.status == 1 && r.stderr.contains("classes.txt: 2 class names (one per line) for a model with 10 logits"), "\(r.stderr)")
    }

    // MARK: interruption

    /// Ctrl-C during pass 1 (sampling PFVs over all 10,000 test images as concept images) stops
    /// after the current batch. Pass 1 must outlast the 3 s before the signal: 4,000 images took
    /// under 3 s on a quiet Zen 5 core, so the signal landed in pass 2.
    @Test func sigintDuringPassOneStopsPromptly() throws {
        let out = "\(dir)/p1.sqlite"
        let r = try gigtrace(["trace", "--limit", "10000", "--concept-images", "10000", "--k", "2", "--steps", "2",
                              "--layers", Self.stages, "--batch-size", "16", "--threads", "1", "--prefetch-threads", "0",
                              "--out", out, "--quiet"], interruptAfter: 3)
        #expect(r.status == 130, "\(r.stderr)")
        #expect(r.stderr.contains("interrupted while sampling PFVs for the concept banks (pass 1); nothing was written"), "\(r.stderr)")
        #expect(r.stopSeconds < 10)
        #expect(!FileManager.default.fileExists(atPath: out) && !FileManager.default.fileExists(atPath: out + ".partial"))
    }

    // MARK: helper

    @Test func outputPathsComparesFilesNotSpellings() throws {
        let file = "\(dir)/a.bin"
        _ = FileManager.default.createFile(atPath: file, contents: Data([1]))
        try FileManager.default.createSymbolicLink(atPath: "\(dir)/l.bin", withDestinationPath: "a.bin")
        #expect(OutputPaths.sameFile("\(dir)/l.bin", file) && OutputPaths.sameFile("\(dir)/./a.bin", file))
        #expect(!OutputPaths.sameFile("\(dir)/b.bin", file))
        #expect(OutputPaths.sameFile("\(dir)/new.bin", "\(dir)/../\(URL(fileURLWithPath: dir).lastPathComponent)/new.bin"))
        #expect(throws: InputError.self) { try OutputPaths.check("\(dir)/l.bin", option: "--out", inputs: [("--data", file)]) }
        try OutputPaths.check("\(dir)/b.bin", option: "--out", inputs: [("--data", file), ("--labels", nil)])
    }
}
