import Foundation
import TestSupport
import Testing
@testable import CNN
@testable import Core
@testable import GIGTrace

/// GIG against Captum: with the identity concept basis, GIG from a layer is Integrated Gradients
/// at that layer (zero baseline there), summed over positions per channel. The reference is
/// Tests/Fixtures/gig, made by tools/make_gig_fixtures.py with Captum's IntegratedGradients on
/// the same small ResNet (Tests/Fixtures/small_resnet).
@Suite struct GIGComputationTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../Fixtures")
    static let block1 = "/block1/relu_1/Relu_output_0"
    static let block2 = "/block2/relu_1/Relu_output_0"

    /// The small ResNet, its four inputs, and the real activations GIG starts from.
    struct Setup {
        let model: Model
        let sourceCodes: [[Float]]   // per image, P×C codes of block1 under the identity basis
        let targetCodes: [[Float]]   // per image, P×C codes of block2
        let block2: [Tensor]         // per image, C×H×W
        let logits: [Tensor]         // per image, [classes]
    }

    static func setup() throws -> Setup {
        let model = try Model.load(path: fixtures.appendingPathComponent("small_resnet/legacy_folded.onnx").path)
        let inputs = try Npy.read(path: fixtures.appendingPathComponent("small_resnet/inputs.npy").path).floatTensor(path: "inputs.npy")
        let out = try model.forward(inputs, keep: [block1, block2])
        let a = try #require(out[block1]), b = try #require(out[block2]), logits = try #require(out[model.outputNames[0]])
        let n = inputs.shape[0]
        return Setup(model: model,
                     sourceCodes: (0..<n).map { identityCodes(a.slice(batch: $0..<($0 + 1))) },
                     targetCodes: (0..<n).map { identityCodes(b.slice(batch: $0..<($0 + 1))) },
                     block2: try (0..<n).map { try b.slice(batch: $0..<($0 + 1)).reshaped(Array(b.shape.dropFirst())) },
                     logits: try (0..<n).map { try logits.slice(batch: $0..<($0 + 1)).reshaped([logits.shape[1]]) })
    }

    /// Identity-basis codes of a [1, C, H, W] activation: u_{p,q} = X[q, p], P×C row-major.
    static func identityCodes(_ x: Tensor) -> [Float] {
        let c = x.shape[1], p = x.shape[2] * x.shape[3]
        var u = [Float](repeating: 0, count: c * p)
        for q in 0..<c { for i in 0..<p { u[i * c + q] = x.data[q * p + i] } }
        return u
    }

    /// Largest |ours − reference| relative to the largest |reference| of the matrix.
    static func relativeError(_ ours: [Float], _ reference: [Float]) -> Float {
        let scale = max(reference.map(abs).max() ?? 0, 1e-12)
        return zip(ours, reference).map { abs($0 - $1) }.max().map { $0 / scale } ?? 0
    }

    static let quadratures: [(Quadrature.Method, Int)] = [(.gaussLegendre, 16), (.riemannTrapezoid, 20), (.riemannMiddle, 8)]

    @Test(arguments: quadratures)
    func identityBasisToClassesIsCaptumIntegratedGradients(method: Quadrature.Method, steps: Int) throws {
        let s = try Self.setup()
        let reference = try Npy.read(path: Self.fixtures.appendingPathComponent("gig/ig_block1_to_logits_\(method.rawValue)_\(steps).npy").path)
            .floatTensor(path: "fixture")   // [N, classes, C_a]
        let (classes, channels) = (reference.shape[1], reference.shape[2])
        let gig = try GIGComputation(subnetwork: s.model.subnetwork(from: Self.block1, to: s.model.outputNames[0]),
                                   source: .identity(channels: channels), target: .classes(count: classes),
                                   quadrature: Quadrature(method: method, steps: steps))
        for n in 0..<reference.shape[0] {
            let r = try gig.compute(sourceCodes: s.sourceCodes[n], realTarget: s.logits[n], targetCodes: nil)
            // Ours is sources × targets (q, c); the fixture is (c, q).
            var expected = [Float](repeating: 0, count: channels * classes)
            for c in 0..<classes { for q in 0..<channels { expected[q * classes + c] = reference.data[(n * classes + c) * channels + q] } }
            #expect(Self.relativeError(r.relevance, expected) < 1e-4, "image \(n) \(method) \(steps)")
            #expect(r.reconstructionGap < 1e-6)
        }
    }

    @Test(arguments: quadratures)
    func identityBasisToNextLayerIsCaptumIntegratedGradients(method: Quadrature.Method, steps: Int) throws {
        let s = try Self.setup()
        let reference = try Npy.read(path: Self.fixtures.appendingPathComponent("gig/ig_block1_to_block2_\(method.rawValue)_\(steps).npy").path)
            .floatTensor(path: "fixture")   // [N, C_b, C_a]
        let (targets, channels) = (reference.shape[1], reference.shape[2])
        let gig = try GIGComputation(subnetwork: s.model.subnetwork(from: Self.block1, to: Self.block2),
                                   source: .identity(channels: channels), target: .concepts(.identity(channels: targets)),
                                   quadrature: Quadrature(method: method, steps: steps))
        for n in 0..<reference.shape[0] {
            let r = try gig.compute(sourceCodes: s.sourceCodes[n], realTarget: s.block2[n], targetCodes: s.targetCodes[n])
            var expected = [Float](repeating: 0, count: channels * targets)
            for t in 0..<targets { for q in 0..<channels { expected[q * targets + t] = reference.data[(n * targets + t) * channels + q] } }
            #expect(Self.relativeError(r.relevance, expected) < 1e-4, "image \(n) \(method) \(steps)")
        }
    }

    @Test func completenessHoldsWithManyGaussLegendreSteps() throws {
        let s = try Self.setup()
        let gig = try GIGComputation(subnetwork: s.model.subnetwork(from: Self.block1, to: Self.block2),
                                   source: .identity(channels: 8), target: .concepts(.identity(channels: 16)),
                                   quadrature: Quadrature(method: .gaussLegendre, steps: 64))
        let r = try gig.compute(sourceCodes: s.sourceCodes[0], realTarget: s.block2[0], targetCodes: s.targetCodes[0])
        #expect(r.completenessError < 0.01)
        #expect(r.activeTargets.contains(true))
        // Σ_q A(q→r) − Δg_r for each active target, directly.
        for t in 0..<r.targetCount where r.activeTargets[t] {
            let sum = (0..<r.sourceCount).reduce(0.0) { $0 + Double(r.relevance[$1 * r.targetCount + t]) }
            #expect(abs(sum - r.delta[t]) <= 0.02 * max(1, abs(r.delta[t])))
        }
    }
}
