import Foundation
import Testing
@testable import CNN
@testable import Core
@testable import PFV

/// SRD through multiplicative gates (METHOD §2): the gate is a fixed scale from the forward pass,
/// relevance flows only through the gated operand.
@Suite("SRD through multiplicative gates")
struct GateTests {
    /// x [2, 1, 3] → identity 1×1 conv z → squeeze-excitation gate g_c = σ(mean_c z) → y = z ⊙ g →
    /// conv 2→1 with a 1×3 kernel (pads 1 left/right, no bias). For the output PFV at position 1
    /// the contributors are the three input positions, c_k = Σ_c W[c, k] g_c x[c, k]; each gets
    /// μ_k = c_k / Σ_k c_k, and the identity conv below hands it on whole (one contributor). The
    /// expected map is evaluated here by hand from those numbers.
    @Test func squeezeExcitationGateMatchesHandComputation() throws {
        var net = TinyNet(seed: 1)
        let x0: [Float] = [1, 2, -1], x1: [Float] = [0.5, -1, 3]
        let w: [[Float]] = [[0.3, -0.2, 0.5], [0.4, 0.1, -0.6]]
        let identity = net.constant([2, 2, 1, 1], [1, 0, 0, 1])
        let z = net.node("Conv", ["x", identity], ["kernel_shape": .ints([1, 1])])
        let g = net.node("Sigmoid", [net.globalAveragePool(z)])
        let y = net.node("Mul", [z, g])
        let kernel = net.constant([1, 2, 1, 3], w[0] + w[1])
        let out = net.node("Conv", [y, kernel], ["kernel_shape": .ints([1, 3]), "pads": .ints([0, 1, 0, 1])])
        let model = try net.model(input: [2, 1, 3], output: out)
        let tracer = try ReceptiveFieldTracer(model: model, layer: out)
        #expect(tracer.srdUnsupportedNodes.isEmpty)
        let image = Tensor(uncheckedShape: [1, 2, 1, 3], data: x0 + x1)
        let r = try tracer.srd(image: image, positions: [PFVPosition(h: 0, w: 1)])

        func sigmoid(_ v: Double) -> Double { 1 / (1 + exp(-v)) }
        let gate = [sigmoid(Double(x0.reduce(0, +)) / 3), sigmoid(Double(x1.reduce(0, +)) / 3)]
        let c = (0..<3).map { k in Double(w[0][k]) * gate[0] * Double(x0[k]) + Double(w[1][k]) * gate[1] * Double(x1[k]) }
        let total = c.reduce(0, +)
        for k in 0..<3 {
            #expect(abs(Double(r.maps.data[k]) - c[k] / total) < 1e-5, "position \(k): \(r.maps.data[k]) vs \(c[k] / total)")
        }
        #expect(r.droppedRelevance[0] == 0)
    }

    /// SiLU `x ⊙ σ(x)` and Hardswish as `x ⊙ hardsigmoid(x)` between convs: covered, and every
    /// PFV's relevance still sums to 1 at the input (nothing leaks into the gate branch).
    @Test func swishGatesConserveRelevance() throws {
        var net = TinyNet(seed: 3)
        let a = net.conv("x", 3, 4)
        let silu = net.node("Mul", [a, net.node("Sigmoid", [a])])
        let b = net.conv(silu, 4, 4)
        let hswish = net.node("Mul", [net.node("HardSigmoid", [b], ["alpha": .float(1 / 6.0), "beta": .float(0.5)]), b])
        let se = net.node("Mul", [hswish, net.node("Sigmoid", [net.conv(net.globalAveragePool(hswish), 4, 4, k: 1, pad: 0)])])
        let out = net.conv(se, 4, 5)
        let model = try net.model(input: [3, 6, 6], output: out)
        let tracer = try ReceptiveFieldTracer(model: model, layer: out)
        #expect(tracer.srdUnsupportedNodes.isEmpty, "\(tracer.srdUnsupportedNodes)")
        let positions = allPositions(tracer.layer)
        let r = try tracer.srd(image: randomImages(1, 3, 6, 6, seed: 4), positions: positions)
        for i in 0..<positions.count {
            let total = r.maps.data[(i * 36)..<((i + 1) * 36)].reduce(0, +)
            #expect(abs(total - 1) < 1e-4, "PFV \(positions[i]): input relevance \(total)")
        }
    }

    /// A product of two unrelated feature maps is no gate: SRD reports the node.
    @Test func productOfTwoFeatureMapsIsNotAGate() throws {
        var net = TinyNet(seed: 5)
        let out = net.node("Mul", [net.conv("x", 3, 4), net.conv("x", 3, 4)])
        let tracer = try ReceptiveFieldTracer(model: try net.model(input: [3, 5, 5], output: out), layer: out)
        #expect(tracer.srdUnsupportedNodes.count == 1)
    }

    /// Layers of the EfficientNet/MobileNetV3-style fixture per export: block1's output, block2's
    /// output (after an SE gate with hard-sigmoid and Hardswish) and the last SiLU's output.
    static let seNetLayers = [
        "legacy.onnx": ["/block1/Add_output_0", "/block2/project/project.0/Conv_output_0", "/last/last.2/Mul_output_0"],
        "dynamo.onnx": ["add", "getitem_18", "silu_3"],
    ]

    /// The SE-net fixture of tools/make_modern_fixtures.py (SiLU, Hardswish, SE with sigmoid and
    /// hard-sigmoid gates), both exporters: every layer is covered by SRD (no gradient-ERF
    /// fallback), and a PFV's relevance sums to 1 at the input.
    @Test(arguments: ["legacy.onnx", "dynamo.onnx"])
    func squeezeExcitationNetIsCovered(_ file: String) throws {
        let model = try Model.load(path: fixturePath("se_net/" + file))
        let images = try Npy.read(path: fixturePath("se_net/inputs.npy")).floatTensor(path: "inputs.npy")
        let layers = try #require(GateTests.seNetLayers[file])
        #expect(model.suggestedTraceLayers == [layers[0]])
        for layer in layers {
            let tracer = try ReceptiveFieldTracer(model: model, layer: layer)
            #expect(tracer.srdUnsupportedNodes.isEmpty, "\(file) \(layer): \(tracer.srdUnsupportedNodes)")
            let maps = try tracer.maps(images: images, index: 1, positions: [PFVPosition(h: 1, w: 2)])
            #expect(maps.method == .srd && maps.warnings.isEmpty)
            let total = maps.maps.data.reduce(0, +)
            #expect(abs(total - 1) < 1e-3, "\(file) \(layer): input relevance \(total)")
        }
    }
}
