import ArgumentParser
import Foundation
import GIGTrace
import TestSupport
import Testing
@testable import CLI
@testable import CNN
@testable import Core

/// `gigtrace sanity --trace` (graph checks) and `--save-models` end to end on a small demo trace:
/// the JSON validates against schemas/sanity.schema.json (Python's jsonschema), the saved ONNX
/// models pass `onnx.checker` and hold the in-memory models' weights (read back by Python's onnx),
/// their logits in our engine equal the in-memory models'; and the bad-input messages.
@Suite(.serialized) struct SanityCommandTests {
    static let model = TestPaths.demoModel
    static let images = TestPaths.fashionMNISTTestImages
    let dir: String

    init() throws {
        dir = try makeTemporaryFolder("sanity-cli")
    }

    /// An 8-image trace of stage 2 and 3 (K = 4, 4 steps) of `model`.
    static func smallTrace(_ path: String, model: String = SanityCommandTests.model) throws {
        try TraceCommand.parse(["--model", model, "--data", images, "--mean", "0.2860", "--std", "0.3530", "--limit", "8",
                                "--layers", "/stage2/relu/Relu_output_0,/stage3/relu/Relu_output_0", "--k", "4", "--steps", "4",
                                "--concept-images", "8", "--batch-size", "4", "--threads", "1", "--out", path, "--quiet"]).run()
    }

    func message(_ body: () throws -> Void) -> String {
        do { try body() } catch { return SanityCommand.message(for: error) }
        return "no error"
    }

    @Test func graphChecksWriteValidJSONAndSavedModelsMatch() throws {
        let trace = "\(dir)/t.sqlite", out = "\(dir)/out", saved = "\(dir)/models"
        try Self.smallTrace(trace)
        let command = try SanityCommand.parse(["--trace", trace, "--images", "4", "--checks", "cascading,perturbation",
                                               "--perturbed-models", "2", "--top-k", "3", "--save-models", saved, "--out", out, "--quiet"])
        try command.compute()
        let schema = TestPaths.repository.appendingPathComponent("schemas/sanity.schema.json").path
        let summary = try runPython("""
            import json, sys, jsonschema
            report = json.load(open(sys.argv[1])); jsonschema.validate(report, json.load(open(sys.argv[2])))
            rows = report["graph"]["comparisons"]
            print(report["images"], len(rows), len({r["stage"] for r in rows if r["check"] == "cascading"}))
            """, arguments: ["\(out)/sanity.json", schema])
        let numbers = summary.split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
        let m = try Model.load(path: Self.model, foldBatchNorm: false)
        let layers = m.parameterLayers.count
        // 4 blocks (one layer pair, two layers → classes, pathways) per cascading stage and perturbed model.
        #expect(numbers == [4, 4 * (layers + 2), layers])
        #expect(try String(contentsOfFile: "\(out)/sanity.txt", encoding: .utf8).contains("pathways"))

        // The saved models: one per variant, valid ONNX, holding the in-memory weights.
        let files = try FileManager.default.contentsOfDirectory(atPath: saved).filter { $0.hasSuffix(".onnx") }.sorted()
        #expect(files.count == layers + 2)
        #expect(files.first == "000-cascading-_head_fc_Gemm.onnx")
        let index = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(saved)/models.json"))) as? [[String: String]]
        #expect(index?.map { $0["file"] ?? "" } == files && index?.first?["stage"] == "/head/fc/Gemm")
        let source = try TraceSource.open(trace)
        let sample = try GraphSanityCheck(source: source, model: m, images: 4).allImages()
        let predicted = try MapSanityCheck.predictions(m, images: sample, targets: [0, 0, 0, 0]).map(\.predicted)
        let variants = try command.variants(of: m, checks: [.cascading, .perturbation], images: sample, targets: predicted,
                                          filter: .meanOverImages).list
        #expect(variants.count == files.count)
        for (file, variant) in zip(files, variants) where file.hasPrefix("000") || file.hasPrefix(String(format: "%03d", layers - 1)) || file.contains("perturbation") {
            let path = "\(saved)/\(file)", arrays = "\(dir)/arrays-\(file)"
            try FileManager.default.createDirectory(atPath: arrays, withIntermediateDirectories: true)
            // Python's onnx: the checker, then each Conv/Gemm node's weight and bias by the node's output name.
            _ = try runPython("""
                import sys, onnx, numpy as np
                from onnx import numpy_helper
                model = onnx.load(sys.argv[1]); onnx.checker.check_model(model, full_check=True)
                inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
                for n in model.graph.node:
                    if n.op_type in ("Conv", "Gemm"):
                        key = n.output[0].replace("/", "_")
                        np.save(f"{sys.argv[2]}/{key}.w.npy", inits[n.input[1]].astype(np.float32))
                        if len(n.input) > 2: np.save(f"{sys.argv[2]}/{key}.b.npy", inits[n.input[2]].astype(np.float32))
                """, arguments: [path, arrays])
            let mine = try variant.make()
            for layer in mine.parameterLayers {
                let node = mine.nodes[layer.node]
                let key = node.output.replacingOccurrences(of: "/", with: "_")
                let (w, b): ([Float], [Float]?)
                switch node.op {
                case .conv(let c): (w, b) = (c.weight.data, c.bias)
                default: (w, b) = (mine.constants[node.inputs[1]]?.data ?? [], node.inputs.count > 2 ? mine.constants[node.inputs[2]]?.data : nil)
                }
                #expect(try Npy.read(path: "\(arrays)/\(key).w.npy").floatTensor(path: key).data == w, "\(file): weight of \(node.name)")
                if let b { #expect(try Npy.read(path: "\(arrays)/\(key).b.npy").floatTensor(path: key).data == b, "\(file): bias of \(node.name)") }
            }
            // Our engine on the saved file computes the in-memory model's logits.
            let reloaded = try Model.load(path: path, foldBatchNorm: false)
            let (x, y) = (try reloaded.forward(sample)[reloaded.outputNames[0]], try mine.forward(sample)[mine.outputNames[0]])
            #expect(x != nil && x?.data == y?.data, "\(file): logits differ")
        }
    }

    @Test func badInputGivesOneLineErrors() throws {
        let base = ["--model", Self.model, "--data", Self.images, "--mean", "0.2860", "--std", "0.3530", "--limit", "2", "--out", "\(dir)/o", "--quiet"]
        func run(_ extra: [String]) -> String { message { try SanityCommand.parse(base + extra).compute() } }
        #expect(run(["--methods", "lime"]).contains("'lime' is invalid for '--methods"))
        #expect(run(["--methods", "gradient", "--target", "Unicorn"]).contains("not pred, label"))
        #expect(run(["--methods", "gradient", "--target", "12"]).contains("out of range"))
        #expect(run(["--checks", "shuffle"]).contains("'shuffle' is invalid for '--checks"))
        #expect(run(["--sigma", "0"]) == "--sigma must be positive, got 0.0")
        #expect(run(["--sigma=-1"]) == "--sigma must be positive, got -1.0")
        #expect(run(["--perturbed-models", "0"]) == "--perturbed-models must be at least 1, got 0")
        #expect(run(["--images", "0"]) == "--images must be at least 1, got 0")
        #expect(run(["--top-k", "0"]) == "--top-k must be at least 1, got 0")
        #expect(message { try SanityCommand.parse(["--data", Self.images, "--out", dir]).compute() }.contains("--model is required"))
        // A trace whose model file is gone; map-only options with --trace.
        let copy = "\(dir)/model.onnx", trace = "\(dir)/t.sqlite"
        try FileManager.default.copyItem(atPath: Self.model, toPath: copy)
        try Self.smallTrace(trace, model: copy)
        #expect(message { try SanityCommand.parse(["--trace", trace, "--methods", "ig", "--out", dir]).compute() }
                == "--methods applies to map checks; with --trace the concept graph is checked")
        #expect(message { try SanityCommand.parse(["--trace", trace, "--mean", "0.5", "--out", dir]).compute() }
                .hasPrefix("--mean: with --trace the dataset and its preprocessing are the trace's"))
        try FileManager.default.removeItem(atPath: copy)
        let missing = message { try SanityCommand.parse(["--trace", trace, "--out", dir, "--quiet"]).compute() }
        #expect(missing == "\(trace): its model \(copy) no longer exists; give its new place", "\(missing)")
        #expect(!missing.contains("\n"))
        #expect(message { try SanityCommand.parse(["--trace", "\(dir)/none.sqlite", "--out", dir, "--quiet"]).compute() }.contains("none.sqlite"))
    }
}
