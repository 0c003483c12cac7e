import Foundation
import TestSupport
import Testing
import CNN
import Core
@testable import GIGTrace

/// Generalized IG (docs/METHOD.md §9) against the reference in tools/make_tree_fixtures.py, which
/// computes it from the paper's definition on the scikit-learn / LightGBM models themselves.
@Suite struct GeneralizedIGTests {
    static let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/trees").path

    static func reference(_ name: String) throws -> GeneralizedIGReference {
        try GeneralizedIGReference.load(name)
    }

    static func rows(_ name: String) throws -> Tensor {
        try Npy.read(path: "\(dir)/\(name)_inputs.npy").floatTensor(path: name)
    }

    /// Tree-only models: every attribution equals the reference to 1e-6, completeness holds to 1e-6,
    /// and the crossing points found are the reference's.
    @Test(arguments: ["gb_binary", "gb_multi", "rf_binary", "rf_multi", "gb_reg", "rf_reg", "gb_quantized", "lgbm_binary"])
    func equalsTheReference(_ name: String) throws {
        let model = try Model.load(path: "\(Self.dir)/\(name).onnx")
        let ref = try Self.reference(name)
        let x = try Self.rows(name)
        let f = x.shape[1]
        let baseline = Tensor(uncheckedShape: [1, f], data: ref.baseline)
        var worst = 0.0, worstCompleteness = 0.0, checked = 0
        for target in ref.targets {
            let gig = try GeneralizedIntegratedGradients(model: model, output: target.output)
            for r in 0..<x.shape[0] {
                let result = try gig.attribute(x.slice(batch: r..<(r + 1)), baseline: baseline, target: target.index)
                for (a, b) in zip(result.attributions, target.attributions[r]) { worst = max(worst, abs(a - b)) }
                worstCompleteness = max(worstCompleteness, abs(result.remainder) / max(abs(result.delta), 1e-3))
                #expect(result.crossings == target.crossings[r], "\(name) row \(r) class \(target.index)")
                #expect(abs(result.delta - target.delta[r]) < 1e-6, "\(name) row \(r): Δf \(result.delta) vs \(target.delta[r])")
                #expect(result.smoothTotal == 0)
                checked += 1
            }
        }
        #expect(checked >= 4)
        #expect(worst < 1e-6, "\(name): largest difference from the reference \(worst)")
        #expect(worstCompleteness < 1e-6, "\(name): completeness error \(worstCompleteness)")
    }

    /// A tree ensemble plus a smooth term, f(x) = trees(x) + Σ_i w_i x_i² (the gb_reg model with a
    /// MatMul branch added): the jumps go through the general path (f evaluated with the trees'
    /// outputs replaced), the smooth part through quadrature; by hand, the smooth term's IG is
    /// w_i (x_i² − x'_i²) exactly (Gauss–Legendre integrates its linear integrand exactly), so
    /// GIG = the reference's tree attributions + that.
    @Test func treesPlusSmoothTerm() throws {
        var onnx = try OnnxReader.read(path: "\(Self.dir)/gb_reg.onnx")
        let w: [Float] = [0.5, -1, 0.25, 2]
        onnx.graph.initializers["w"] = .float(Tensor(uncheckedShape: [4, 1], data: w))
        let x0 = onnx.graph.inputs[0].name
        onnx.graph.nodes += [
            OnnxNode(name: "square", opType: "Mul", domain: "", inputs: [x0, x0], outputs: ["square"], attributes: [:]),
            OnnxNode(name: "quadratic", opType: "MatMul", domain: "", inputs: ["square", "w"], outputs: ["quadratic"], attributes: [:]),
            OnnxNode(name: "mixed", opType: "Add", domain: "", inputs: ["variable", "quadratic"], outputs: ["mixed"], attributes: [:]),
        ]
        onnx.graph.outputs = [ValueInfo(name: "mixed", elementType: 1, shape: [.symbolic("N"), .fixed(1)])]
        let model = try Model(onnx: onnx)
        let ref = try Self.reference("gb_reg")
        let x = try Self.rows("gb_reg")
        let baseline = Tensor(uncheckedShape: [1, 4], data: ref.baseline)
        let gig = try GeneralizedIntegratedGradients(model: model, output: "mixed")
        var worst = 0.0, withJumps = 0
        for r in 0..<x.shape[0] {
            let result = try gig.attribute(x.slice(batch: r..<(r + 1)), baseline: baseline, target: 0)
            if result.jumpTotal != 0 { withJumps += 1 }
            for i in 0..<4 {
                let xi = Double(x.data[r * 4 + i]), bi = Double(ref.baseline[i])
                let expected = ref.targets[0].attributions[r][i] + Double(w[i]) * (xi * xi - bi * bi)
                worst = max(worst, abs(result.attributions[i] - expected))
            }
            #expect(result.completenessError < 1e-5, "row \(r): \(result.completenessError)")
            #expect(result.smoothTotal != 0)
        }
        #expect(withJumps >= 5)
        #expect(worst < 1e-5, "largest difference \(worst)")
    }

    /// Several targets in one call give the same numbers as one call per target.
    @Test func severalTargetsAtOnce() throws {
        let model = try Model.load(path: "\(Self.dir)/cnn_tree_head.onnx")
        let x = try Self.rows("cnn_tree_head").slice(batch: 0..<1)
        let gig = try GeneralizedIntegratedGradients(model: model, output: "probabilities")
        let all = try gig.attribute(x, baseline: Tensor(shape: x.shape), targets: [9, 7])
        let single = try gig.attribute(x, baseline: Tensor(shape: x.shape), target: 7)
        #expect(all.count == 2)
        let worst = zip(all[1].attributions, single.attributions).map { abs($0 - $1) }.max() ?? 1
        #expect(worst < 1e-12)
        #expect(abs(all[0].remainder) < 1e-9 && abs(all[1].remainder) < 1e-9)
    }

    /// The reference's quantized model really has ties (several features crossing at one a),
    /// so the Shapley split is exercised: with x = (3,3,3,3) from 0 every feature crosses 0.5,
    /// 1.5, 2.5 at the same points, and the attributions are not those of any single feature.
    @Test func tiesAreSplitByShapley() throws {
        let ref = try Self.reference("gb_quantized")
        #expect(ref.targets[0].crossings[0] == 3)
        let model = try Model.load(path: "\(Self.dir)/gb_quantized.onnx")
        let gig = try GeneralizedIntegratedGradients(model: model, output: "variable")
        let x = try Self.rows("gb_quantized").slice(batch: 0..<1)
        let r = try gig.attribute(x, baseline: Tensor(shape: [1, 4]), target: 0)
        #expect(r.crossings == 3)
        #expect(r.attributions.filter { abs($0) > 1e-3 }.count >= 2)
        var strict = gig
        strict.maxTiedCrossings = 1
        #expect(throws: TraceError.self) { try strict.attribute(x, baseline: Tensor(shape: [1, 4]), target: 0) }
    }

    /// Plain IG on a tree model misses every jump (the trees' gradient is 0), so its completeness
    /// error is 100 %; Generalized IG's is below 1e-6 on the same rows.
    @Test func plainIGFailsCompletenessOnTrees() throws {
        let model = try Model.load(path: "\(Self.dir)/gb_binary.onnx")
        let ref = try Self.reference("gb_binary")
        let x = try Self.rows("gb_binary")
        let baseline = Tensor(uncheckedShape: [1, 4], data: ref.baseline)
        let gig = try GeneralizedIntegratedGradients(model: model, output: "probabilities")
        let quadrature = try Quadrature(method: .gaussLegendre, steps: 32)
        var plainErrors = [Double](), gigErrors = [Double]()
        for r in 0..<x.shape[0] {
            let row = x.slice(batch: r..<(r + 1))
            let result = try gig.attribute(row, baseline: baseline, target: 1)
            guard abs(result.delta) > 1e-3 else { continue }
            // Plain IG: Σ_k w_k ∇f(γ(α_k)) ⊙ (x − x'), with the engine's gradient.
            var plain = 0.0
            for (a, w) in zip(quadrature.alphas, quadrature.weights) {
                let point = Tensor(uncheckedShape: [1, 4], data: (0..<4).map { baseline.data[$0] + Float(a) * (row.data[$0] - baseline.data[$0]) })
                let g = try model.gradient(point, classes: [1], output: "probabilities")
                for i in 0..<4 { plain += w * Double(g.data[i]) * Double(row.data[i] - baseline.data[i]) }
            }
            plainErrors.append(abs(result.delta - plain) / abs(result.delta))
            gigErrors.append(result.completenessError)
        }
        #expect(plainErrors.count >= 5)
        #expect(plainErrors.allSatisfy { $0 > 0.99 }, "plain IG completeness errors \(plainErrors)")
        #expect(gigErrors.allSatisfy { $0 < 1e-6 }, "GIG completeness errors \(gigErrors)")
    }

    /// The demo CNN with a GradientBoosting head: crossings of the head's split features (network
    /// outputs) found by bisection along the image path; completeness error under 1 %.
    @Test func cnnWithTreeHeadIsComplete() throws {
        let model = try Model.load(path: "\(Self.dir)/cnn_tree_head.onnx")
        let images = try Self.rows("cnn_tree_head")
        let gig = try GeneralizedIntegratedGradients(model: model, output: "probabilities")
        var errors = [Double]()
        for n in 0..<8 {
            let x = images.slice(batch: n..<(n + 1))
            let p = try #require(model.forward(x)["probabilities"])
            let predicted = p.data.indices.max { p.data[$0] < p.data[$1] } ?? 0
            let r = try gig.attribute(x, baseline: Tensor(shape: x.shape), target: predicted)
            #expect(r.crossings > 0)
            #expect(abs(r.delta) > 1e-3)
            #expect(r.smoothTotal == 0)
            errors.append(r.completenessError)
            #expect(r.uncredited == 0)
        }
        #expect(errors.allSatisfy { $0 < 0.01 }, "completeness errors \(errors)")
    }

    /// The crossing points found along the image path are those of a dense scan: the head's input
    /// (the pooled CNN features) evaluated by the engine at 4,097 points, its sign changes against
    /// every split threshold counted.
    @Test func crossingsMatchADenseScan() throws {
        let model = try Model.load(path: "\(Self.dir)/cnn_tree_head.onnx")
        let x = try Self.rows("cnn_tree_head").slice(batch: 1..<2)
        let gig = try GeneralizedIntegratedGradients(model: model, output: "probabilities")
        let r = try gig.attribute(x, baseline: Tensor(shape: x.shape), target: 2)
        guard case .treeEnsemble(let trees) = try #require(model.nodes.first { $0.op.kind == "TreeEnsembleClassifier" }).op else {
            Issue.record("no tree head")
            return
        }
        let features = "/head/Flatten_output_0"
        let n = 4096
        var previous: [Float]? = nil
        var changes = 0
        for start in stride(from: 0, through: n, by: 256) {
            let alphas = (start...min(n, start + 255)).map { Float($0) / Float(n) }
            var data = [Float]()
            for a in alphas { data += x.data.map { a * $0 } }
            let u = try #require(model.forward(Tensor(uncheckedShape: [alphas.count, 1, 28, 28], data: data), keep: [features])[features])
            for k in 0..<alphas.count {
                let row = Array(u.data[(k * 64)..<((k + 1) * 64)])
                if let p = previous {
                    for (f, t) in trees.splits where (p[f] <= t) != (row[f] <= t) { changes += 1 }
                }
                previous = row
            }
        }
        #expect(changes > 10)
        #expect(r.crossings == changes, "GIG found \(r.crossings) crossing points, the dense scan \(changes) sign changes")
    }

    @Test func crossingLimitIsAClearError() throws {
        let model = try Model.load(path: "\(Self.dir)/gb_binary.onnx")
        var gig = try GeneralizedIntegratedGradients(model: model, output: "probabilities")
        gig.maxCrossings = 2
        let ref = try Self.reference("gb_binary")
        let x = try Self.rows("gb_binary").slice(batch: 0..<1)
        #expect {
            try gig.attribute(x, baseline: Tensor(uncheckedShape: [1, 4], data: ref.baseline), target: 1)
        } throws: { "\($0)".contains("crossing limit") }
    }

    /// A tree head that reads a tensor not computed from the traced tensor is refused, naming it.
    @Test func headNotFedByTheTracedTensorIsAnError() throws {
        var onnx = try OnnxReader.read(path: "\(Self.dir)/cnn_tree_head.onnx")
        let i = try #require(onnx.graph.nodes.firstIndex { $0.opType == "TreeEnsembleClassifier" })
        onnx.graph.nodes[i].inputs = ["extra"]
        onnx.graph.inputs.append(ValueInfo(name: "extra", elementType: 1, shape: [.symbolic("batch"), .fixed(64)]))
        let model = try Model(onnx: onnx)
        #expect {
            try GeneralizedIntegratedGradients(model: model, from: "/stage3/relu/Relu_output_0", output: "probabilities")
        } throws: { "\($0)".contains("tree head") && "\($0)".contains("extra") }
    }
}
