import Foundation
import Testing
@testable import CNN
import Core

/// ONNX-ML tree ensembles against onnxruntime: scikit-learn GradientBoosting/RandomForest
/// (classifier and regressor) and LightGBM exports, and the demo CNN joined to a GradientBoosting
/// head, all made by tools/make_tree_fixtures.py with onnxruntime's outputs committed beside them.
@Suite struct TreeEnsembleTests {
    static let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/trees").path
    static let tabular = ["gb_binary", "gb_multi", "rf_binary", "rf_multi", "gb_reg", "rf_reg", "gb_quantized", "lgbm_binary"]

    static func npy(_ name: String) throws -> NpyArray { try Npy.read(path: "\(dir)/\(name).npy") }

    /// Every output of the model on the fixture rows equals onnxruntime's: scores to 1e-6
    /// (relative to 1), labels exactly.
    @Test(arguments: tabular + ["cnn_tree_head"])
    func matchesOnnxRuntime(_ name: String) throws {
        let model = try Model.load(path: "\(Self.dir)/\(name).onnx")
        let inputs = try Self.npy("\(name)_inputs").floatTensor(path: name)
        let out = try model.forward(inputs: [model.inputName: inputs])
        #expect(!model.outputNames.isEmpty)
        // The CNN's own logits differ from onnxruntime's by float rounding; the head's scores
        // (piecewise constant) must agree unless a feature lands within rounding of a threshold.
        let tolerance: Float = name == "cnn_tree_head" ? 1e-4 : 1e-6
        for output in model.outputNames {
            let ref = try Self.npy("\(name)_ort_\(output)")
            let got = try #require(out[output])
            #expect(got.shape == ref.shape, "\(name) \(output)")
            switch ref.values {
            case .int64(let labels):
                #expect(got.data.map { Int($0) } == labels, "\(name) \(output)")
            case .float32(let values):
                let worst = zip(got.data, values).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? 0
                #expect(worst <= tolerance, "\(name) \(output): max difference \(worst)")
            default:
                Issue.record("unexpected dtype \(ref.dtypeName) for \(name) \(output)")
            }
        }
    }

    @Test func modelsUseTheTreeOps() throws {
        let model = try Model.load(path: "\(Self.dir)/gb_binary.onnx")
        #expect(model.opCounts["TreeEnsembleClassifier"] == 1)
        let head = try Model.load(path: "\(Self.dir)/cnn_tree_head.onnx")
        #expect(head.opCounts["TreeEnsembleClassifier"] == 1)
        #expect(head.opCounts["Conv"] ?? 0 > 0)
        guard case .treeEnsemble(let trees) = try #require(model.nodes.first).op else {
            Issue.record("first node is not a tree ensemble")
            return
        }
        // 8 trees of depth 3: at most 7 splits each.
        #expect(trees.roots.count == 8)
        #expect(trees.splits.count <= 56 && trees.splits.count > 8)
        #expect(trees.postTransform == .logistic)
    }

    /// The gradient through a tree is zero: what plain IG sees of a tree model.
    @Test func gradientThroughTreesIsZero() throws {
        let model = try Model.load(path: "\(Self.dir)/gb_reg.onnx")
        let x = try Self.npy("gb_reg_inputs").floatTensor(path: "gb_reg")
        let g = try model.gradient(x, classes: [Int](repeating: 0, count: x.shape[0]))
        #expect(g.shape == x.shape)
        #expect(g.data.allSatisfy { $0 == 0 })
    }

    static func edited(_ name: String, _ change: (inout OnnxNode) -> Void) throws -> OnnxModel {
        var onnx = try OnnxReader.read(path: "\(dir)/\(name).onnx")
        let i = try #require(onnx.graph.nodes.firstIndex { $0.opType.hasPrefix("TreeEnsemble") })
        change(&onnx.graph.nodes[i])
        return onnx
    }

    static func loadError(_ onnx: OnnxModel) -> String {
        do {
            _ = try Model(onnx: onnx)
            return ""
        } catch {
            return "\(error)"
        }
    }

    @Test func unsupportedAttributesNameNodeAndAttribute() throws {
        let probit = try Self.edited("gb_reg") { $0.attributes["post_transform"] = .string("PROBIT") }
        let e1 = Self.loadError(probit)
        #expect(e1.contains("post_transform") && e1.contains("PROBIT") && e1.contains("TreeEnsembleRegressor"), "\(e1)")
        let unknown = try Self.edited("gb_binary") { $0.attributes["nodes_lookup"] = .ints([1]) }
        let e2 = Self.loadError(unknown)
        #expect(e2.contains("nodes_lookup") && e2.contains("TreeEnsembleClassifier"), "\(e2)")
        let mode = try Self.edited("rf_reg") { node in
            if case .strings(var m)? = node.attributes["nodes_modes"] {
                m[0] = "BRANCH_MEMBER"
                node.attributes["nodes_modes"] = .strings(m)
            }
        }
        let e3 = Self.loadError(mode)
        #expect(e3.contains("nodes_modes") && e3.contains("BRANCH_MEMBER"), "\(e3)")
        let short = try Self.edited("gb_reg") { node in
            if case .floats(let v)? = node.attributes["nodes_values"] { node.attributes["nodes_values"] = .floats(Array(v.dropLast())) }
        }
        let e4 = Self.loadError(short)
        #expect(e4.contains("nodes_values"), "\(e4)")
        var opset5 = try OnnxReader.read(path: "\(Self.dir)/gb_reg.onnx")
        opset5.graph.nodes[0].opType = "TreeEnsemble"
        let e5 = Self.loadError(opset5)
        #expect(e5.contains("ai.onnx.ml.TreeEnsemble"), "\(e5)")
    }

    /// Rows narrower than the features the trees read are a shape error, not a crash.
    @Test func narrowRowsAreRejected() throws {
        let model = try Model.load(path: "\(Self.dir)/gb_reg.onnx")
        #expect(throws: ModelError.self) { try model.forward(inputs: [model.inputName: Tensor(shape: [2, 2])]) }
    }
}
