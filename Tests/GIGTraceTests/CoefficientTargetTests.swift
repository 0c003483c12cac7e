import Foundation
import TestSupport
import Testing
@testable import CNN
@testable import Concepts
@testable import Core
@testable import GIGTrace

/// The coefficient target of GIG (docs/METHOD.md §4, `gigtrace trace --target coefficient`) against
/// independent references: tools/coefficient_target_reference.py computes the edges of a tiny
/// conv + ReLU model in NumPy from the formulas (np.linalg.inv of G_S, hand-written backward pass,
/// Gauss–Legendre from NumPy), the code's Jacobian is checked by finite differences, and the
/// closed form u_S(y) against the coordinate-descent Lasso codes a trace stores. Each runs for Lasso
/// codes and for debiased codes (METHOD §3: the support refit by scipy.optimize.nnls in the
/// reference, λ = 0 in the closed form).
@Suite struct CoefficientTargetTests {
    /// The NumPy reference case, written to a fresh folder.
    struct Reference {
        let model: Model
        let basisA: ConceptBank, basisB: ConceptBank
        let codesA: [Float], codesB: [Float]
        let edges: [Float], delta: [Float]
        let layerB: [Float]
        let lambda: Float
        let steps: Int
        let coding: ConceptBank.Coding
    }

    static func reference(steps: Int, coding: ConceptBank.Coding = .lasso) throws -> Reference {
        let dir = try makeTemporaryFolder("coefficient-target")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let script = TestPaths.repository.appendingPathComponent("tools/coefficient_target_reference.py").path
        _ = try runPython("import runpy, sys; sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')",
                          arguments: [script, dir, "\(steps)", coding.rawValue])
        func npy(_ name: String) throws -> Tensor {
            try Npy.read(path: "\(dir)/\(name).npy").floatTensor(path: name)
        }
        let a = try npy("basis_a"), b = try npy("basis_b")
        let meta = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir)/meta.json"))) as? [String: Any])
        #expect(meta["coding"] as? String == coding.rawValue)
        let lambda = Float(try #require(meta["lambda"] as? Double))
        return Reference(
            model: try Model.load(path: "\(dir)/model.onnx"),
            basisA: try bank(a, layer: "a", lambda: 0), basisB: try bank(b, layer: "layer_b", lambda: lambda, coding: coding),
            codesA: try npy("codes_a").data, codesB: try npy("codes_b").data,
            edges: try npy("edges").data, delta: try npy("delta").data, layerB: try npy("layer_b").data,
            lambda: lambda, steps: steps, coding: coding)
    }

    /// A k-means concept bank of the reference's unit-norm vectors (K×C); the quality report is not part of it.
    static func bank(_ v: Tensor, layer: String, lambda: Float, coding: ConceptBank.Coding = .lasso) throws -> ConceptBank {
        try ConceptBank.restored(
            layer: layer, method: .kmeans, concepts: Matrix(rows: v.shape[0], cols: v.shape[1], data: v.data), mean: nil,
            lambda: lambda, codingMaxSweeps: 1000, codingTolerance: 1e-7, sample: ConceptSample(seed: 0, count: 1),
            r2: 0, meanNonzeros: 0, activeShare: [Double](repeating: 0.5, count: v.shape[0]), coding: coding)
    }

    /// GIG with the coefficient target from layer a to layer b of the reference model, path to X̃,
    /// set up as a trace sets it up (`GIGComputations`, which takes the target's λ from its bank).
    static func gig(_ r: Reference, mode: GIGComputation.Mode) throws -> GIGComputation.Result {
        let computations = try GIGComputations(model: r.model, layers: ["a", "layer_b"], banks: [r.basisA, r.basisB], output: "logits",
                                               classes: 3, quadrature: Quadrature(method: .gaussLegendre, steps: r.steps),
                                               mode: mode, conceptTarget: .coefficient)
        let gig = computations.layers[0]
        // Lasso codes keep λ in the closed form; debiased codes are least squares on S (λ = 0).
        #expect(gig.targetLambda == (r.coding == .lasso ? r.lambda : 0))
        #expect(gig.conceptTarget == .coefficient)
        // The real layer b from our engine at X̃ (the reference's own Y is compared below).
        let shapeA = try #require(r.model.tensorShapes["a"])
        let (c, p) = (shapeA[0], shapeA[1] * shapeA[2])
        var x = [Float](repeating: 0, count: c * p)
        for ch in 0..<c { for pos in 0..<p { for q in 0..<r.basisA.k {
            x[ch * p + pos] += r.basisA.concepts.data[q * c + ch] * r.codesA[pos * r.basisA.k + q]
        } } }
        let y = try r.model.subnetwork(from: "a", to: "layer_b").forward(Tensor(uncheckedShape: [1] + shapeA, data: x)).output
        #expect(relativeError(y.data, r.layerB) < 1e-5, "our engine's layer b differs from NumPy's")
        return try gig.compute(sourceCodes: r.codesA, realTarget: y.reshaped(Array(y.shape.dropFirst())), targetCodes: r.codesB)
    }

    @Test(arguments: [(GIGComputation.Mode.auto, ConceptBank.Coding.lasso), (.reverse, .lasso), (.forward, .lasso),
                      (.auto, .debiased), (.reverse, .debiased)])
    func edgesEqualTheNumPyReference(mode: GIGComputation.Mode, coding: ConceptBank.Coding) throws {
        let r = try Self.reference(steps: 16, coding: coding)
        let result = try Self.gig(r, mode: mode)
        #expect(result.relevance.count == r.edges.count)
        let scale = r.edges.map(abs).max() ?? 0
        #expect(scale > 0.1)
        let worst = zip(result.relevance, r.edges).map { abs($0 - $1) }.max() ?? .infinity
        #expect(worst / scale < 1e-4, "largest edge difference \(worst) of \(scale)")
        // Δg = g(F(X̃)) − g(F(0)) per target, as NumPy evaluates the closed form.
        for (ours, theirs) in zip(result.delta, r.delta) { #expect(abs(ours - Double(theirs)) < 1e-4 * max(1, abs(Double(theirs)))) }
        // Targets are active exactly where some position's code is.
        let kb = r.basisB.k
        for t in 0..<kb {
            let active = (0..<(r.codesB.count / kb)).contains { r.codesB[$0 * kb + t] > 0 }
            #expect(result.activeTargets[t] == active)
        }
    }

    @Test(arguments: ConceptBank.Coding.allCases)
    func completenessHoldsWithTheCoefficientTarget(coding: ConceptBank.Coding) throws {
        let r = try Self.reference(steps: 128, coding: coding)
        let result = try Self.gig(r, mode: .auto)
        // Σ_q A(q→r) against g_r(F(X̃)) − g_r(F(0)): the path integral of an exact gradient.
        #expect(result.completenessError < 0.005, "completeness error \(result.completenessError)")
        #expect(result.delta.contains { abs($0) > 0.5 })
    }

    @Test(arguments: ConceptBank.Coding.allCases)
    func codeJacobianMatchesFiniteDifferences(coding: ConceptBank.Coding) throws {
        let r = try Self.reference(steps: 16, coding: coding)
        let c = r.basisB.channels
        let p = r.layerB.count / c
        let target = try CoefficientTarget(bank: r.basisB, lambda: r.basisB.supportLambda, codes: r.codesB, positions: p)
        // Debiased codes have no norm term (λ = 0): the code is linear in y on its support.
        #expect(target.normWeights.allSatisfy { $0 == 0 } == (coding == .debiased))
        // Analytic: ∂g_t/∂y_{ch,pos} = a_{pos,t}[ch] − β_{pos,t} y_{ch,pos}/‖y_pos‖ (rows of G_S⁻¹(V_S − λ·1·yᵀ/‖y‖)).
        let unit = CoefficientTarget.unitDirections(r.layerB, offset: 0, channels: c, positions: p)
        var worst = 0.0, scale = 0.0
        let h: Float = 1e-2
        for j in 0..<(c * p) {
            var plus = r.layerB, minus = r.layerB
            plus[j] += h
            minus[j] -= h
            let (gp, gm) = (target.values(plus), target.values(minus))
            for i in target.targets.indices {
                let numeric = (gp[i] - gm[i]) / Double(2 * h)
                let analytic = Double(target.linear[i * c * p + j]) - Double(target.normWeights[i * p + j % p]) * Double(unit[j])
                worst = max(worst, abs(numeric - analytic))
                scale = max(scale, abs(analytic))
            }
        }
        #expect(scale > 0.5)
        #expect(worst / scale < 2e-3, "finite differences differ by \(worst) of \(scale)")
    }

    /// The closed form u_S(y) = G_S⁻¹(V_S y − λ‖y‖·1) at the real y equals the codes the trace
    /// stores: `ConceptBank.encode`'s coordinate descent (and NumPy's); for debiased codes
    /// u_S(y) = G_S⁻¹V_S y equals the NNLS refit (and scipy's).
    @Test(arguments: ConceptBank.Coding.allCases)
    func closedFormEqualsTheStoredCodes(coding: ConceptBank.Coding) throws {
        let r = try Self.reference(steps: 16, coding: coding)
        let (c, kb) = (r.basisB.channels, r.basisB.k)
        let p = r.layerB.count / c
        let bank = r.basisB
        var pfvs = [Float](repeating: 0, count: p * c)
        for pos in 0..<p { for ch in 0..<c { pfvs[pos * c + ch] = r.layerB[ch * p + pos] } }
        let stored = try bank.encode(Matrix(rows: p, cols: c, data: pfvs))
        #expect(relativeError(stored.data, r.codesB) < 1e-4, "our \(coding) codes differ from NumPy's")
        let target = try CoefficientTarget(bank: r.basisB, lambda: r.basisB.supportLambda, codes: stored.data, positions: p)
        var checked = 0
        for pos in 0..<p {
            // g_t of a layer that is zero except at `pos` is u_{pos,t}.
            var only = [Float](repeating: 0, count: c * p)
            for ch in 0..<c { only[ch * p + pos] = r.layerB[ch * p + pos] }
            let g = target.values(only)
            for (i, t) in target.targets.enumerated() where stored.data[pos * kb + t] > 0 {
                #expect(abs(g[i] - Double(stored.data[pos * kb + t])) < 1e-4 * max(1, abs(g[i])), "position \(pos), concept \(t)")
                checked += 1
            }
        }
        #expect(checked >= 10)
    }

    @Test func theCoefficientTargetNeedsTheMask() throws {
        let r = try Self.reference(steps: 4)
        var gig = try GIGComputation(subnetwork: r.model.subnetwork(from: "a", to: "layer_b"), source: r.basisA,
                                     target: .concepts(r.basisB), quadrature: Quadrature(method: .gaussLegendre, steps: 4), mask: .sum)
        gig.conceptTarget = .coefficient
        #expect(throws: TraceError.self) {
            try gig.compute(sourceCodes: r.codesA, realTarget: Tensor(uncheckedShape: [r.basisB.channels, 4, 4], data: r.layerB),
                            targetCodes: r.codesB)
        }
    }

    /// A 12-image demo trace with `--target coefficient`: the header records it, the concept →
    /// class edges equal a projection trace's (only layer → layer edges change), the layer → layer
    /// edges differ, and `evaluate` runs on it with finite results.
    @Test func aCoefficientTraceStoresItsTargetAndEvaluates() throws {
        let dir = try makeTemporaryFolder("coefficient-trace")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let projection = try EvaluationTests.smallTrace(in: dir, name: "projection")
        let coefficient = try EvaluationTests.smallTrace(in: dir, name: "coefficient", conceptTarget: .coefficient)
        #expect(try TraceReader.open(coefficient).header.settings.conceptTarget == .coefficient)
        #expect(try TraceReader.open(projection).header.settings.conceptTarget == .projection)
        let p = try TraceDatabase.open(projection).readImageLayers(), c = try TraceDatabase.open(coefficient).readImageLayers()
        #expect(p.count == c.count && p.count == 24)
        for (a, b) in zip(p, c) { #expect(a.classRelevance == b.classRelevance, "image \(a.image) layer \(a.level)") }
        let layerEdges = zip(p, c).filter { $0.0.level == 0 }
        #expect(layerEdges.contains { $0.0.nextEdges != $0.1.nextEdges })
        var options = TraceEvaluation.Options()
        options.images = 4
        options.threads = 1
        let report = try TraceEvaluation(trace: coefficient, options: options).run()
        #expect(report.blocks.count == 3)
        for block in report.blocks { for o in block.orders { #expect(o.deletionAUC.mean.isFinite && o.insertionAUC.mean.isFinite) } }
    }

    /// The same with debiased codes (METHOD §3): the settings carry the coding, `evaluate` recodes
    /// with debiased banks, and the concept → class edges differ from the Lasso trace's (the codes,
    /// hence X̃ and the sources' shares, are not the same).
    @Test func aDebiasedCoefficientTraceStoresItsCodingAndEvaluates() throws {
        let dir = try makeTemporaryFolder("debiased-trace")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let lasso = try EvaluationTests.smallTrace(in: dir, name: "lasso", conceptTarget: .coefficient)
        let debiased = try EvaluationTests.smallTrace(in: dir, name: "debiased", conceptTarget: .coefficient, coding: .debiased)
        #expect(try TraceReader.open(debiased).header.settings.coding == .debiased)
        let l = try TraceDatabase.open(lasso).readImageLayers(), d = try TraceDatabase.open(debiased).readImageLayers()
        #expect(l.count == d.count && d.count == 24)
        #expect(zip(l, d).contains { $0.0.classRelevance != $0.1.classRelevance })
        var options = TraceEvaluation.Options()
        options.images = 4
        options.threads = 1
        let evaluation = try TraceEvaluation(trace: debiased, options: options)
        #expect(evaluation.banks.allSatisfy { $0.coding == .debiased && $0.supportLambda == 0 })
        let report = try evaluation.run()
        #expect(report.blocks.count == 3)
        for block in report.blocks { for o in block.orders { #expect(o.deletionAUC.mean.isFinite && o.insertionAUC.mean.isFinite) } }
    }
}
