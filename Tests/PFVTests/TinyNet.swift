import Foundation
@testable import CNN
@testable import Core
@testable import PFV

/// Builds small ONNX graphs in memory (IR types) for tests: seeded random weights, NCHW.
struct TinyNet {
    var nodes: [OnnxNode] = []
    var initializers: [String: TensorValue] = [:]
    var rng: SamplingRNG
    var counter = 0
    /// Weights are drawn from [lo, hi).
    var lo: Float = -0.5, hi: Float = 0.5

    init(seed: UInt64) { rng = SamplingRNG(seed: seed) }

    mutating func fresh(_ kind: String) -> String {
        counter += 1
        return "\(kind)\(counter)"
    }

    mutating func random(_ n: Int) -> [Float] {
        (0..<n).map { _ in lo + (hi - lo) * Float(rng.unit()) }
    }

    mutating func constant(_ shape: [Int], _ data: [Float]) -> String {
        let name = fresh("w")
        initializers[name] = .float(Tensor(uncheckedShape: shape, data: data))
        return name
    }

    mutating func node(_ op: String, _ inputs: [String], _ attrs: [String: AttributeValue] = [:]) -> String {
        let out = fresh(op.lowercased())
        nodes.append(OnnxNode(name: "\(op)_\(counter)", opType: op, domain: "", inputs: inputs, outputs: [out], attributes: attrs))
        return out
    }

    mutating func conv(_ x: String, _ cin: Int, _ cout: Int, k: Int = 3, stride: Int = 1, pad: Int = 1,
                       groups: Int = 1, bias: Bool = true) -> String {
        let w = constant([cout, cin / groups, k, k], random(cout * cin / groups * k * k))
        var ins = [x, w]
        if bias { ins.append(constant([cout], random(cout))) }
        return node("Conv", ins, ["kernel_shape": .ints([k, k]), "strides": .ints([stride, stride]),
                                  "pads": .ints([pad, pad, pad, pad]), "group": .int(groups)])
    }

    mutating func batchNorm(_ x: String, _ c: Int) -> String {
        let scale = constant([c], (0..<c).map { _ in 0.5 + Float(rng.unit()) })
        let shift = constant([c], (0..<c).map { _ in 0.4 * Float(rng.unit()) - 0.2 })
        let mean = constant([c], (0..<c).map { _ in 0.2 * Float(rng.unit()) - 0.1 })
        let variance = constant([c], (0..<c).map { _ in 0.5 + Float(rng.unit()) })
        return node("BatchNormalization", [x, scale, shift, mean, variance], ["epsilon": .float(1e-5)])
    }

    mutating func relu(_ x: String) -> String { node("Relu", [x]) }
    mutating func add(_ a: String, _ b: String) -> String { node("Add", [a, b]) }
    mutating func concat(_ a: String, _ b: String) -> String { node("Concat", [a, b], ["axis": .int(1)]) }
    mutating func globalAveragePool(_ x: String) -> String { node("GlobalAveragePool", [x]) }

    mutating func pool(_ op: String, _ x: String, k: Int, stride: Int, pad: Int = 0, includePad: Bool = false) -> String {
        var a: [String: AttributeValue] = ["kernel_shape": .ints([k, k]), "strides": .ints([stride, stride]),
                                           "pads": .ints([pad, pad, pad, pad])]
        if op == "AveragePool" { a["count_include_pad"] = .int(includePad ? 1 : 0) }
        return node(op, [x], a)
    }

    /// The model with image input "x" of per-image shape `input` and graph output `output`.
    func model(input: [Int], output: String, foldBatchNorm: Bool = true) throws -> Model {
        let graph = OnnxGraph(name: "tiny", nodes: nodes, initializers: initializers,
                              inputs: [ValueInfo(name: "x", elementType: 1, shape: ([1] + input).map { .fixed($0) })],
                              outputs: [ValueInfo(name: output, elementType: 1, shape: nil)], valueInfo: [])
        return try Model(onnx: OnnxModel(irVersion: 8, opsetVersion: 13, producerName: "tests", producerVersion: "",
                                         graph: graph), foldBatchNorm: foldBatchNorm)
    }
}

/// A seeded random image batch `[n, c, h, w]` with values in [lo, hi).
func randomImages(_ n: Int, _ c: Int, _ h: Int, _ w: Int, seed: UInt64, lo: Float = -1, hi: Float = 1) -> Tensor {
    var rng = SamplingRNG(seed: seed)
    return Tensor(uncheckedShape: [n, c, h, w], data: (0..<(n * c * h * w)).map { _ in lo + (hi - lo) * Float(rng.unit()) })
}

/// Every position of a layer's grid, row-major.
func allPositions(_ g: LayerGeometry) -> [PFVPosition] {
    (0..<g.height).flatMap { h in (0..<g.width).map { PFVPosition(h: h, w: $0) } }
}

/// Committed fixture files, found from this source file.
func fixturePath(_ relative: String) -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures").appendingPathComponent(relative).path
}
