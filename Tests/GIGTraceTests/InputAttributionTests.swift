import Foundation
import TestSupport
import Testing
@testable import CNN
@testable import Core
@testable import GIGTrace

/// Input attribution maps (METHOD §7) against independent references on the SmallResNet fixture
/// (Tests/Fixtures/small_resnet/legacy_folded.onnx): Captum's IntegratedGradients and
/// InputXGradient, and GGIG written in PyTorch from its definition, one scaled point at a time
/// (Tests/Fixtures/attribution, made by tools/make_attribution_fixtures.py). Tolerance: 1e-4 of
/// the reference map's largest |value|, per image.
@Suite struct InputAttributionTests {
    static let targets = [3, 0, 7, 9]

    static func npy(_ folder: String, _ name: String) throws -> Tensor {
        let path = TestPaths.fixture(folder) + "/" + name
        return try Npy.read(path: path).floatTensor(path: path)
    }

    static func model() throws -> Model {
        try Model.load(path: TestPaths.fixture("small_resnet") + "/legacy_folded.onnx")
    }

    /// Image n of a `[N, C, H, W]` tensor as `[1, C, H, W]`.
    static func image(_ t: Tensor, _ n: Int) -> Tensor { t.slice(batch: n..<(n + 1)) }

    /// max |a − b| / max |b|.
    static func errorToMax(_ a: Tensor, _ b: Tensor) -> Float {
        let peak = b.data.reduce(Float(0)) { max($0, abs($1)) }
        let diff = zip(a.data, b.data).reduce(Float(0)) { max($0, abs($1.0 - $1.1)) }
        return peak > 0 ? diff / peak : diff
    }

    /// Runs `attributor` on the four fixture images (baseline zero or baseline.npy) against `reference`.
    static func check(_ attributor: any InputAttributor, reference: String, baseline: Bool) throws {
        let x = try npy("small_resnet", "inputs.npy")
        let expected = try npy("attribution", reference)
        let baselines = baseline ? try npy("attribution", "baseline.npy") : Tensor(shape: x.shape)
        for n in 0..<4 {
            let map = try attributor.attribute(image: image(x, n), target: targets[n], baseline: image(baselines, n))
            let error = errorToMax(map, image(expected, n))
            #expect(error < 1e-4, "\(reference) image \(n): error \(error) of the map's max")
        }
    }

    @Test func integratedGradientsEqualsCaptumGaussLegendre() throws {
        let ig = IntegratedGradients(model: try Self.model(), quadrature: try Quadrature(method: .gaussLegendre, steps: 50))
        try Self.check(ig, reference: "ig_gausslegendre_50_zero.npy", baseline: false)
    }

    @Test func integratedGradientsEqualsCaptumWithBaselineAndInternalBatches() throws {
        let m = try Self.model()
        let trapezoid = IntegratedGradients(model: m, quadrature: try Quadrature(method: .riemannTrapezoid, steps: 20), internalBatchSize: 7)
        try Self.check(trapezoid, reference: "ig_riemann_trapezoid_20_baseline_ibs7.npy", baseline: true)
        let left = IntegratedGradients(model: m, quadrature: try Quadrature(method: .riemannLeft, steps: 16))
        try Self.check(left, reference: "ig_riemann_left_16_baseline.npy", baseline: true)
    }

    /// Without `internal_batch_size`, chunks hold at most `bytesPerThread` of activations per
    /// thread. legacy_folded.onnx computes 34,858 floats per sample (ONNX shape inference over its
    /// 17 nodes), so a budget of b samples a thread at 2 threads allows 2b copies a chunk.
    @Test func automaticChunkKeepsActivationsWithinTheBudget() throws {
        var m = try Self.model()
        m.threads = 2
        let perSample = 34_858 * 4
        #expect(AttributionMath.automaticBatch(model: m, count: 50, bytesPerThread: 4 * perSample) == 8)   // ≤ 8: 7 chunks
        #expect(AttributionMath.automaticBatch(model: m, count: 50, bytesPerThread: 7 * perSample) == 13)  // ≤ 14: 4 chunks
        #expect(AttributionMath.automaticBatch(model: m, count: 50, bytesPerThread: perSample - 1) == 2)   // one a thread
        #expect(AttributionMath.automaticBatch(model: m, count: 50) == 50)                                 // 128 MB: all
        #expect(AttributionMath.batches(50, size: 13).map(\.count) == [13, 13, 13, 11])
    }

    /// IG through the affine prefix (the fixture starts with Conv → Relu) and IG running every step
    /// through the whole network both equal Captum.
    @Test func integratedGradientsWithAndWithoutTheAffinePrefixEqualCaptum() throws {
        let m = try Self.model()
        let split = try #require(AffinePrefix(model: m, output: m.outputNames[0]))
        #expect(split.prefix.nodeIndices.count == 1 && split.rest.from == m.nodes[split.prefix.nodeIndices[0]].output)
        for prefix in [true, false] {
            let gl = try Quadrature(method: .gaussLegendre, steps: 50)
            try Self.check(IntegratedGradients(model: m, quadrature: gl, affinePrefix: prefix), reference: "ig_gausslegendre_50_zero.npy", baseline: false)
            let trapezoid = try Quadrature(method: .riemannTrapezoid, steps: 20)
            try Self.check(IntegratedGradients(model: m, quadrature: trapezoid, internalBatchSize: 7, affinePrefix: prefix),
                           reference: "ig_riemann_trapezoid_20_baseline_ibs7.npy", baseline: true)
        }
    }

    /// A network whose first node is a Relu (nothing affine before it), or whose affine start
    /// feeds two non-linear branches, has no affine prefix: IG runs every step through it all.
    @Test func integratedGradientsFallBackWithoutAnAffinePrefix() throws {
        let dir = try makeTemporaryFolder("affine-prefix")
        _ = try runPython("""
            import sys, numpy as np, onnx
            from onnx import helper, numpy_helper, TensorProto
            r = np.random.default_rng(5)
            init = lambda name, shape: numpy_helper.from_array(r.normal(0, 0.5, shape).astype(np.float32), name)
            def save(nodes, inits, path):
                graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 4, 4])],
                                          [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 3])], inits)
                onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
            head = [helper.make_node("GlobalAveragePool", ["h"], ["p"]), helper.make_node("Flatten", ["p"], ["f"]),
                    helper.make_node("Gemm", ["f", "G", "g"], ["logits"])]
            save([helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Conv", ["r", "W", "B"], ["c"], pads=[1, 1, 1, 1]),
                  helper.make_node("Relu", ["c"], ["h"])] + head,
                 [init("W", (2, 2, 3, 3)), init("B", (2,)), init("G", (2, 3)), init("g", (3,))], sys.argv[1] + "/relu_first.onnx")
            save([helper.make_node("Conv", ["x", "W", "B"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Conv", ["x", "V", "B"], ["d"], pads=[1, 1, 1, 1]),
                  helper.make_node("Relu", ["c"], ["rc"]), helper.make_node("Relu", ["d"], ["rd"]), helper.make_node("Add", ["rc", "rd"], ["h"])] + head,
                 [init("W", (2, 2, 3, 3)), init("V", (2, 2, 3, 3)), init("B", (2,)), init("G", (2, 3)), init("g", (3,))],
                 sys.argv[1] + "/two_branches.onnx")
            """, arguments: [dir])
        for name in ["relu_first", "two_branches"] {
            let m = try Model.load(path: "\(dir)/\(name).onnx")
            #expect(AffinePrefix(model: m, output: "logits") == nil, "\(name)")
            let x = Tensor(uncheckedShape: [1, 2, 4, 4], data: (0..<32).map { Float(($0 * 7) % 11) / 5 - 1 })
            let q = try Quadrature(method: .gaussLegendre, steps: 8)
            let on = try IntegratedGradients(model: m, quadrature: q).attribute(image: x, target: 1, baseline: Tensor(shape: x.shape))
            let off = try IntegratedGradients(model: m, quadrature: q, affinePrefix: false).attribute(image: x, target: 1, baseline: Tensor(shape: x.shape))
            #expect(on.data == off.data, "\(name): the fallback is the whole-network path")
        }
    }

    @Test func gradientTimesInputEqualsCaptum() throws {
        try Self.check(GradientTimesInput(model: try Self.model(), timesInput: true), reference: "gradxinput.npy", baseline: false)
    }

    @Test func ggigEqualsTheDefinitionInPyTorch() throws {
        let m = try Self.model()
        try Self.check(GeometricallyGuidedIG(model: m, intervals: 50), reference: "ggig_m50_zero.npy", baseline: false)
        try Self.check(GeometricallyGuidedIG(model: m, intervals: 50, internalBatchSize: 13), reference: "ggig_m50_baseline.npy", baseline: true)
        // Every point through the whole network (no affine prefix) gives the same maps.
        try Self.check(GeometricallyGuidedIG(model: m, intervals: 50, affinePrefix: false), reference: "ggig_m50_zero.npy", baseline: false)
        try Self.check(GeometricallyGuidedIG(model: m, intervals: 50, internalBatchSize: 13, affinePrefix: false),
                       reference: "ggig_m50_baseline.npy", baseline: true)
        let ascent = try GGIGAscent(steps: 4, rate: 0.05)
        try Self.check(GeometricallyGuidedIG(model: m, intervals: 10, ascent: ascent), reference: "ggig_m10_ascent_T4_eta0.05_zero.npy", baseline: false)
    }

    /// SRD saliency conserves the logit: the input map sums to logit c (from the plain forward
    /// pass, committed in small_resnet/logits.npy by PyTorch) when SRD drops nothing.
    @Test func srdSaliencyConservesTheLogit() throws {
        let m = try Self.model()
        let srd = try SRDSaliency(model: m)
        let x = try Self.npy("small_resnet", "inputs.npy")
        let logits = try Self.npy("small_resnet", "logits.npy")
        for n in 0..<4 {
            let c = Self.targets[n]
            let map = try srd.attribute(image: Self.image(x, n), target: c, baseline: Self.image(x, n))
            #expect(map.shape == [1, 1, 32, 32])
            let total = map.data.reduce(0.0) { $0 + Double($1) }
            let logit = Double(logits.data[n * 10 + c])
            #expect(abs(total - logit) <= 1e-4 * max(1, abs(logit)), "image \(n): Σ map \(total) vs logit \(logit)")
        }
    }

    /// The head shares by hand for a GAP + Linear head: position k gets Σ_ch W[c, ch] L[ch, k] / HW
    /// plus its bias share b·|c_k|/Σ|c|, where L is the last block's output and W, b the fc layer's.
    @Test func srdHeadSharesByHand() throws {
        let m = try Self.model()
        let srd = try SRDSaliency(model: m)
        let x = Self.image(try Self.npy("small_resnet", "inputs.npy"), 0)
        let c = 3
        let (shares, logit) = try srd.headShares(image: x, target: c)
        let layer = try #require(try m.forward(x, keep: [srd.layer])[srd.layer])
        let gemm = try #require(m.nodes.first { if case .gemm = $0.op { return true } else { return false } })
        let w = try #require(m.constants[gemm.inputs[1]]), b = try #require(m.constants[gemm.inputs[2]])
        let (channels, positions) = (layer.shape[1], layer.shape[2] * layer.shape[3])
        #expect(w.shape == [10, channels])
        var contributions = [Double](repeating: 0, count: positions)
        for k in 0..<positions {
            for ch in 0..<channels { contributions[k] += Double(w.data[c * channels + ch]) * Double(layer.data[ch * positions + k]) / Double(positions) }
        }
        let norm = contributions.reduce(0) { $0 + abs($1) }
        for k in 0..<positions {
            let expected = contributions[k] + Double(b.data[c]) * abs(contributions[k]) / norm
            #expect(abs(Double(shares[k]) - expected) < 1e-5 * max(1, abs(Double(logit))))
        }
    }

    @Test func ascentRejectsBadSettings() {
        #expect(throws: InputError.self) { try GGIGAscent(steps: 0, rate: 0.1) }
        #expect(throws: InputError.self) { try GGIGAscent(steps: 3, rate: -1) }
    }
}
