import Foundation
import TestSupport
import Testing
@testable import CNN
@testable import Concepts
@testable import Core
@testable import GIGTrace

/// GIG with non-identity concept bases (K < C) against Captum on the demo model: Integrated
/// Gradients over the concept coefficients of stage 2 (stage 2 → stage 3 concepts, masked) and of
/// stage 3 (→ the 10 classes). Reference and codes: Tests/Fixtures/gig_concepts, made by
/// tools/make_gig_concept_fixtures.py (Captum IntegratedGradients on the codes, the reconstruction
/// codes·V (+ mean) as the layer, the path straight from zero). Two bases: sparse non-negative
/// vectors with Lasso codes (masks: code > 0), and PCA with a mean source (signed codes).
/// Both differentiation modes (`GIGComputation.Mode.reverse` and `.forward`) must match.
@Suite struct GIGConceptCaptumTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let fixtures = root.appendingPathComponent("Tests/Fixtures/gig_concepts")
    static let stage2 = "/stage2/relu/Relu_output_0"
    static let stage3 = "/stage3/relu/Relu_output_0"

    static func npy(_ name: String) throws -> Tensor {
        try Npy.read(path: fixtures.appendingPathComponent(name).path).floatTensor(path: name)
    }

    /// The concept bank of `layer` ("stage2", "stage3") in `variant` ("nmf", "pca") from the
    /// fixture's unit-norm concept vectors (and PCA mean); the quality report is not part of it.
    static func basis(_ variant: String, _ layer: String) throws -> ConceptBank {
        let v = try npy("\(variant)_\(layer)_basis.npy")
        let mean = variant == "pca" ? try npy("\(variant)_\(layer)_mean.npy").data : nil
        return try ConceptBank.restored(
            layer: layer, method: variant == "pca" ? .pca : .nmf, concepts: Matrix(rows: v.shape[0], cols: v.shape[1], data: v.data),
            mean: mean, lambda: 0, codingMaxSweeps: 1, codingTolerance: 0, sample: ConceptSample(seed: 0, count: 0),
            r2: 0, meanNonzeros: 0, activeShare: [Double](repeating: 0, count: v.shape[0]))
    }

    /// Codes of image n: P×K row-major.
    static func codes(_ variant: String, _ layer: String, image n: Int) throws -> [Float] {
        let c = try npy("\(variant)_\(layer)_codes.npy")   // [N, P, K]
        let size = c.shape[1] * c.shape[2]
        return Array(c.data[(n * size)..<((n + 1) * size)])
    }

    /// The demo model, the fixture's input images, and their stage 3 activations and logits.
    static func demo() throws -> (model: Model, inputs: Tensor, stage3: Tensor, logits: Tensor) {
        let model = try Model.load(path: root.appendingPathComponent("models/fashion-resnet/model.onnx").path)
        let inputs = try npy("inputs.npy")
        let out = try model.forward(inputs, keep: [stage3])
        return (model, inputs, try #require(out[stage3]), try #require(out[model.outputNames[0]]))
    }

    /// Largest |ours − reference| relative to the largest |reference| of the matrix.
    static func relativeError(_ ours: [Float], _ reference: ArraySlice<Float>) -> Float {
        let scale = max(reference.map(abs).max() ?? 0, 1e-12)
        return zip(ours, reference).map { abs($0 - $1) }.max().map { $0 / scale } ?? .infinity
    }

    static let cases: [(String, Quadrature.Method, Int)] = [
        ("nmf", .gaussLegendre, 16), ("nmf", .riemannMiddle, 8), ("pca", .gaussLegendre, 16), ("pca", .riemannMiddle, 8),
    ]

    @Test(arguments: cases)
    func conceptToConceptAndClassMatchCaptum(variant: String, method: Quadrature.Method, steps: Int) throws {
        let (model, inputs, b, logits) = try Self.demo()
        let logitsName = model.outputNames[0]
        let (basisA, basisB) = (try Self.basis(variant, "stage2"), try Self.basis(variant, "stage3"))
        let quadrature = try Quadrature(method: method, steps: steps)
        var toStage3 = try GIGComputation(subnetwork: model.subnetwork(from: Self.stage2, to: Self.stage3), source: basisA,
                                        target: .concepts(basisB), quadrature: quadrature)
        var toClasses = try GIGComputation(subnetwork: model.subnetwork(from: Self.stage3, to: logitsName), source: basisB,
                                         target: .classes(count: 10), quadrature: quadrature)
        let refB = try Self.npy("\(variant)_stage2_to_stage3_\(method.rawValue)_\(steps).npy")   // [N, S_a, K_b]
        let refC = try Self.npy("\(variant)_stage3_to_logits_\(method.rawValue)_\(steps).npy")   // [N, S_b, 10]
        #expect(refB.shape[1] == toStage3.sourceCount && refC.shape[1] == toClasses.sourceCount)
        // Reverse mode (a cotangent per target) and forward mode (a tangent per source) alike.
        for mode in [GIGComputation.Mode.reverse, .forward] {
            toStage3.mode = mode
            toClasses.mode = mode
            for n in 0..<inputs.shape[0] {
                let realB = try b.slice(batch: n..<(n + 1)).reshaped(Array(b.shape.dropFirst()))
                let realLogits = try logits.slice(batch: n..<(n + 1)).reshaped([10])
                let codesB = try Self.codes(variant, "stage3", image: n)
                let edges = try toStage3.compute(sourceCodes: Self.codes(variant, "stage2", image: n), realTarget: realB, targetCodes: codesB)
                let sizeB = refB.shape[1] * refB.shape[2]
                #expect(edges.activeTargets.contains(true))
                #expect(Self.relativeError(edges.relevance, refB.data[(n * sizeB)..<((n + 1) * sizeB)]) < 1e-4,
                        "\(variant) stage2→stage3 image \(n) \(method) \(steps) \(mode)")
                let classes = try toClasses.compute(sourceCodes: codesB, realTarget: realLogits, targetCodes: nil)
                let sizeC = refC.shape[1] * refC.shape[2]
                #expect(Self.relativeError(classes.relevance, refC.data[(n * sizeC)..<((n + 1) * sizeC)]) < 1e-4,
                        "\(variant) stage3→logits image \(n) \(method) \(steps) \(mode)")
            }
        }
    }

    /// Stage 2 → stage 3 concepts and stage 2 → classes in one forward-mode sweep equal the two
    /// computed apart in reverse mode (the stage 2 → stage 3 half is also checked against Captum).
    @Test(arguments: ["nmf", "pca"])
    func jointForwardSweepEqualsSeparateReverseMode(variant: String) throws {
        let (model, inputs, b, logits) = try Self.demo()
        let logitsName = model.outputNames[0]
        let (basisA, basisB) = (try Self.basis(variant, "stage2"), try Self.basis(variant, "stage3"))
        let quadrature = try Quadrature(method: .gaussLegendre, steps: 16)
        var toStage3 = try GIGComputation(subnetwork: model.subnetwork(from: Self.stage2, to: Self.stage3), source: basisA,
                                        target: .concepts(basisB), quadrature: quadrature)
        var toClasses = try GIGComputation(subnetwork: model.subnetwork(from: Self.stage2, to: logitsName), source: basisA,
                                         target: .classes(count: 10), quadrature: quadrature)
        toStage3.mode = .reverse
        toClasses.mode = .reverse
        let refB = try Self.npy("\(variant)_stage2_to_stage3_gausslegendre_16.npy")
        for n in 0..<inputs.shape[0] {
            let realB = try b.slice(batch: n..<(n + 1)).reshaped(Array(b.shape.dropFirst()))
            let realLogits = try logits.slice(batch: n..<(n + 1)).reshaped([10])
            let (codesA, codesB) = (try Self.codes(variant, "stage2", image: n), try Self.codes(variant, "stage3", image: n))
            let joint = try GIGComputation.computeJointly(toNext: toStage3, toClasses: toClasses, sourceCodes: codesA,
                                                        realNext: realB, nextCodes: codesB, realLogits: realLogits)
            let next = try toStage3.compute(sourceCodes: codesA, realTarget: realB, targetCodes: codesB)
            let classes = try toClasses.compute(sourceCodes: codesA, realTarget: realLogits, targetCodes: nil)
            #expect(joint.next.activeTargets == next.activeTargets)
            #expect(Self.relativeError(joint.next.relevance, next.relevance[...]) < 1e-4, "\(variant) image \(n) → stage 3")
            #expect(Self.relativeError(joint.classes.relevance, classes.relevance[...]) < 1e-4, "\(variant) image \(n) → classes")
            #expect(abs(joint.classes.completenessError - classes.completenessError) < 1e-4)
            let sizeB = refB.shape[1] * refB.shape[2]
            #expect(Self.relativeError(joint.next.relevance, refB.data[(n * sizeB)..<((n + 1) * sizeB)]) < 1e-4)
        }
        // Computations from different layers cannot share a sweep.
        let fromStage3 = try GIGComputation(subnetwork: model.subnetwork(from: Self.stage3, to: logitsName), source: basisB,
                                          target: .classes(count: 10), quadrature: quadrature)
        #expect(throws: TraceError.self) {
            try GIGComputation.computeJointly(toNext: toStage3, toClasses: fromStage3, sourceCodes: Self.codes(variant, "stage2", image: 0),
                                            realNext: b.slice(batch: 0..<1).reshaped(Array(b.shape.dropFirst())), nextCodes: nil,
                                            realLogits: logits.slice(batch: 0..<1).reshaped([10]))
        }
    }
}
