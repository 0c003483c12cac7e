import ArgumentParser
import Foundation
import GIGTrace
import TestSupport
import Testing
@testable import CLI
@testable import Core

/// `gigtrace attribute --method generalized-ig` end to end (docs/METHOD.md §9): tabular tree
/// ensembles against the Python reference of tools/make_tree_fixtures.py (written from the paper's
/// definition on the scikit-learn / LightGBM models), the demo CNN with a tree head against
/// onnxruntime's outputs, README's commands, and the bad-input messages.
@Suite struct GeneralizedIGAttributeTests {
    static let trees = TestPaths.fixture("trees")
    let dir: String

    init() throws {
        dir = try makeTemporaryFolder("gig-attribute")
    }

    static func reference(_ name: String) throws -> GeneralizedIGReference {
        try GeneralizedIGReference.load(name)
    }

    func attribute(_ model: String, _ extra: [String]) throws -> AttributeCommand {
        try AttributeCommand.parse(["--model", "\(Self.trees)/\(model).onnx", "--data", "\(Self.trees)/\(model)_inputs.npy",
                                    "--method", "generalized-ig", "--out", dir, "--quiet"] + extra)
    }

    func message(_ body: () throws -> Void) -> String {
        do { try body() } catch { return "\(error)" }
        return "no error"
    }

    /// The CSV as rows of named numbers.
    static func csv(_ path: String) throws -> [[String: Double]] {
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map { $0.split(separator: ",").map(String.init) }
        guard let header = lines.first else { return [] }
        return lines.dropFirst().map { cells in
            Dictionary(uniqueKeysWithValues: zip(header, cells.map { Double($0) ?? .nan }))
        }
    }

    /// Tree-only models through `attribute`: the .npy attributions and the CSV's per-feature
    /// columns equal the reference to 1e-6, f(x) − f(baseline) equals the reference's, the
    /// crossing counts are the reference's, and completeness holds to 1e-6.
    @Test(arguments: ["gb_binary", "gb_multi", "rf_binary", "rf_multi", "gb_reg", "rf_reg", "gb_quantized", "lgbm_binary"])
    func tabularEqualsTheReference(_ name: String) throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let ref = try Self.reference(name)
        let f = ref.baseline.count
        try Npy.write(Tensor(uncheckedShape: [1, f], data: ref.baseline), to: dir + "/baseline.npy")
        var worst = 0.0, worstCompleteness = 0.0, rows = 0
        for target in ref.targets {
            try attribute(name, ["--baseline", dir + "/baseline.npy", "--output", target.output, "--target", String(target.index)]).compute()
            let a = try Npy.read(path: dir + "/generalized-ig_attributions.npy").floatTensor(path: "a")
            let table = try Self.csv(dir + "/generalized-ig_attributions.csv")
            #expect(a.shape == [target.attributions.count, f])
            #expect(table.count == target.attributions.count)
            #expect(try Npy.read(path: dir + "/generalized-ig_targets.npy").integers(path: "t") == [Int](repeating: target.index, count: table.count))
            for (r, expected) in target.attributions.enumerated() where r < table.count {
                let row = table[r]
                for i in 0..<f {
                    worst = max(worst, abs(Double(a.data[r * f + i]) - expected[i]), abs((row["x\(i)"] ?? .nan) - expected[i]))
                }
                let delta = (row["f_x"] ?? .nan) - (row["f_baseline"] ?? .nan)
                #expect(abs(delta - target.delta[r]) < 1e-6, "\(name) row \(r): Δf \(delta) vs \(target.delta[r])")
                #expect(Int(row["crossings"] ?? -1) == target.crossings[r], "\(name) row \(r) class \(target.index)")
                worstCompleteness = max(worstCompleteness, abs(delta - (row["sum"] ?? .nan)) / max(abs(delta), 1e-3))
                if abs(delta) > 1e-3 { #expect((row["completeness_error"] ?? 1) < 1e-6) }
                rows += 1
            }
        }
        #expect(rows >= 4)
        #expect(worst < 1e-6, "\(name): largest difference from the reference \(worst)")
        #expect(worstCompleteness < 1e-6, "\(name): completeness error \(worstCompleteness)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/generalized-ig_0_heat.png"), "no PNGs for feature rows")
    }

    /// `--baseline` as [F], `--indices` and `--limit` pick the same rows as the reference.
    @Test func baselineShapesAndRowSelection() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let ref = try Self.reference("gb_multi")
        try Npy.write(Tensor(uncheckedShape: [4], data: ref.baseline), to: dir + "/baseline.npy")
        try attribute("gb_multi", ["--baseline", dir + "/baseline.npy", "--target", "1", "--limit", "6", "--indices", "5,2"]).compute()
        let a = try Npy.read(path: dir + "/generalized-ig_attributions.npy").floatTensor(path: "a")
        #expect(a.shape == [2, 4])
        let expected = ref.targets[1].attributions[5] + ref.targets[1].attributions[2]
        let worst = zip(a.data, expected).map { abs(Double($0) - $1) }.max() ?? 1
        #expect(worst < 1e-6, "largest difference \(worst)")
    }

    /// README's tabular command as written (only --out moved into a temporary folder): 10 rows
    /// explained, targets all 2, completeness < 1e-6 wherever f moves.
    @Test func readmeTabularCommand() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let paths = ["Tests/Fixtures/trees/gb_multi.onnx": "\(Self.trees)/gb_multi.onnx",
                     "Tests/Fixtures/trees/gb_multi_inputs.npy": "\(Self.trees)/gb_multi_inputs.npy", "gig-tabular/": dir]
        let commands = try ReadmeHowToTests.commands(try ReadmeHowToTests.snippet("generalized-ig-tabular"), paths: paths)
        try #require(commands.count == 1 && commands[0].first == "attribute")
        try AttributeCommand.parse(Array(commands[0].dropFirst()) + ["--quiet"]).compute()
        let table = try Self.csv(dir + "/generalized-ig_attributions.csv")
        #expect(table.count == 10)
        for row in table {
            #expect(row["target"] == 2)
            let delta = (row["f_x"] ?? .nan) - (row["f_baseline"] ?? .nan)
            #expect(abs(delta - (row["sum"] ?? .nan)) <= 1e-6 * max(abs(delta), 1e-3))
        }
    }

    /// README's worked example (the demo CNN with a GradientBoosting head, Fashion-MNIST) on its
    /// first image: f(x) is onnxruntime's probability of the class onnxruntime predicts, the
    /// target is that class, crossings are found, completeness < 1 %, the map sums to the CSV's
    /// total, and the PNGs are written.
    @Test func readmeImageCommandOnTheCNNWithATreeHead() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let paths = ["Tests/Fixtures/trees/cnn_tree_head.onnx": "\(Self.trees)/cnn_tree_head.onnx",
                     "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz": TestPaths.fashionMNISTTestImages, "gig/": dir]
        let commands = try ReadmeHowToTests.commands(try ReadmeHowToTests.snippet("generalized-ig"), paths: paths)
        try #require(commands.count == 1 && commands[0].first == "attribute")
        try AttributeCommand.parse(Array(commands[0].dropFirst()) + ["--indices", "0", "--quiet"]).compute()

        let ort = try Npy.read(path: "\(Self.trees)/cnn_tree_head_ort_probabilities.npy").floatTensor(path: "ort")
        let first = Array(ort.data[0..<10])
        let predicted = try #require(first.indices.max { first[$0] < first[$1] })
        let table = try Self.csv(dir + "/generalized-ig_completeness.csv")
        let row = try #require(table.first)
        #expect(table.count == 1)
        #expect(row["target"] == Double(predicted))
        #expect(abs((row["f_x"] ?? .nan) - Double(first[predicted])) < 1e-5)
        #expect((row["crossings"] ?? 0) > 0)
        #expect((row["completeness_error"] ?? 1) < 0.01)
        let map = try Npy.read(path: dir + "/generalized-ig_maps.npy").floatTensor(path: "map")
        #expect(map.shape == [1, 1, 28, 28])
        let sum = map.data.reduce(0.0) { $0 + Double($1) }
        #expect(abs(sum - (row["sum"] ?? .nan)) < 1e-4, "map sums to \(sum), CSV says \(row["sum"] ?? .nan)")
        #expect(try Npy.read(path: dir + "/generalized-ig_targets.npy").integers(path: "t") == [predicted])
        #expect(FileManager.default.fileExists(atPath: dir + "/generalized-ig_0_overlay.png"))
    }

    @Test func badInputGivesOneLineErrors() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Data not rank 2 for a tabular model.
        try Npy.write(Tensor(shape: [2, 1, 4]), to: dir + "/cube.npy")
        let rank3 = message { try AttributeCommand.parse(["--model", "\(Self.trees)/gb_multi.onnx", "--data", dir + "/cube.npy",
                                                         "--method", "generalized-ig", "--out", dir, "--quiet"]).compute() }
        #expect(rank3.contains("cube.npy") && rank3.contains("is not [N, 4]"), "\(rank3)")
        // Baseline of the wrong shape.
        try Npy.write(Tensor(shape: [1, 3]), to: dir + "/short.npy")
        let short = message { try attribute("gb_multi", ["--baseline", dir + "/short.npy"]).compute() }
        #expect(short.contains("--baseline") && short.contains("short.npy"), "\(short)")
        // Target out of range (3 classes).
        #expect(message { try attribute("gb_multi", ["--target", "3"]).compute() }.contains("out of range"))
        // More crossings than --max-crossings.
        let crossings = message { try attribute("gb_multi", ["--target", "0", "--max-crossings", "1"]).compute() }
        #expect(crossings.hasPrefix("sample 0: ") && crossings.contains("more than 1 split thresholds") && crossings.hasSuffix("; --max-crossings sets the limit"),
                "\(crossings)")
        // Other methods and image options do not apply to feature rows; --output must exist.
        #expect(message { try attribute("gb_multi", ["--method", "ig"]).compute() }.contains("use --method generalized-ig"))
        #expect(message { try attribute("gb_multi", ["--mean", "0.5"]).compute() }.contains("--mean applies to image data"))
        #expect(message { try attribute("gb_multi", ["--output", "scores"]).compute() }.contains("--output 'scores' is not an output"))
        #expect(message { try attribute("gb_multi", ["--target", "label"]).compute() }.contains("--labels"))
        #expect(throws: (any Error).self) { try attribute("gb_multi", ["--n-steps", "0"]) }
        #expect(throws: (any Error).self) { try attribute("gb_multi", ["--max-crossings", "0"]) }
        #expect(throws: (any Error).self) {
            try AttributeCommand.parse(["--model", "\(Self.trees)/gb_multi.onnx", "--method", "ig", "--output", "probabilities", "--out", dir])
        }
        // sanity keeps its methods and refuses generalized-ig with a reason.
        let sanity = message {
            try SanityCommand.parse(["--model", TestPaths.demoModel, "--data", TestPaths.fashionMNISTTestImages, "--limit", "1",
                                     "--methods", "ig,generalized-ig", "--out", dir, "--quiet"]).compute()
        }
        #expect(sanity.contains("generalized-ig is not checked by sanity"), "\(sanity)")
        #expect(SanityCommand.methodsChecked == AttributionMethod.allCases.filter { $0 != .generalizedIG })
    }

    /// Unsupported tree attributes, made by editing the fixture with Python's onnx: a
    /// BRANCH_EQ split (the engine runs it, Generalized IG cannot locate its jumps) and an attribute
    /// the engine does not know; both surface through `attribute` naming the node or attribute.
    @Test func unsupportedTreeAttributesSurface() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try runPython("""
        import sys, onnx
        from onnx import helper
        m = onnx.load(sys.argv[1])
        node = next(n for n in m.graph.node if n.op_type == "TreeEnsembleClassifier")
        modes = next(a for a in node.attribute if a.name == "nodes_modes")
        first = next(i for i, s in enumerate(modes.strings) if s == b"BRANCH_LEQ")
        modes.strings[first] = b"BRANCH_EQ"
        onnx.save(m, sys.argv[2])
        node.attribute.append(helper.make_attribute("nodes_hitrates", [1.0] * len(modes.strings)))
        node.attribute.append(helper.make_attribute("unheard_of", 1))
        onnx.save(m, sys.argv[3])
        """, arguments: ["\(Self.trees)/gb_multi.onnx", dir + "/eq.onnx", dir + "/unknown.onnx"])
        func run(_ model: String) -> String {
            message { try AttributeCommand.parse(["--model", model, "--data", "\(Self.trees)/gb_multi_inputs.npy",
                                                  "--method", "generalized-ig", "--out", dir, "--quiet"]).compute() }
        }
        let eq = run(dir + "/eq.onnx")
        #expect(eq.contains("BRANCH_EQ") && eq.contains("Generalized IG"), "\(eq)")
        let unknown = run(dir + "/unknown.onnx")
        #expect(unknown.contains("unheard_of") || unknown.contains("nodes_hitrates"), "\(unknown)")
        #expect(!unknown.contains("\n"))
    }
}
