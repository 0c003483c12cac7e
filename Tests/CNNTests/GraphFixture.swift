@testable import CNN
@testable import Core

/// Deterministic pseudo-random numbers for test inputs (64-bit LCG).
struct SeededRandom {
    var state: UInt64
    init(_ seed: UInt64) { state = seed &* 6364136223846793005 &+ 1442695040888963407 }
    mutating func next() -> Float {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Float(state >> 40) / Float(1 << 24)
    }
    /// Uniform in [lo, hi).
    mutating func uniform(_ lo: Float, _ hi: Float) -> Float { lo + (hi - lo) * next() }
    mutating func tensor(_ shape: [Int], _ lo: Float = -1, _ hi: Float = 1) -> Tensor {
        Tensor(uncheckedShape: shape, data: (0..<Tensor.elementCount(shape)).map { _ in uniform(lo, hi) })
    }
}

/// Builds small ONNX graphs through the IR types, for engine tests.
struct GraphFixture {
    var nodes: [OnnxNode] = []
    var initializers: [String: TensorValue] = [:]
    var rng = SeededRandom(7)

    mutating func node(_ op: String, _ inputs: [String], _ output: String, _ attrs: [String: AttributeValue] = [:]) {
        nodes.append(OnnxNode(name: "n\(nodes.count)_\(op)", opType: op, domain: "", inputs: inputs,
                              outputs: [output], attributes: attrs))
    }

    /// A random float initializer.
    mutating func weight(_ name: String, _ shape: [Int], _ lo: Float = -1, _ hi: Float = 1) {
        initializers[name] = .float(rng.tensor(shape, lo, hi))
    }

    mutating func ints(_ name: String, _ values: [Int]) {
        initializers[name] = .int(try! IntTensor(shape: [values.count], data: values))
    }

    /// The graph with input `x` of per-image shape `shape` (symbolic batch) and the given outputs.
    func model(input shape: [Int], outputs: [String], opset: Int = 17) -> OnnxModel {
        let dims: [ValueInfo.Dimension] = [.symbolic("N")] + shape.map { .fixed($0) }
        let graph = OnnxGraph(name: "fixture", nodes: nodes, initializers: initializers,
                              inputs: [ValueInfo(name: "x", elementType: 1, shape: dims)],
                              outputs: outputs.map { ValueInfo(name: $0, elementType: 1, shape: nil) }, valueInfo: [])
        return OnnxModel(irVersion: 8, opsetVersion: opset, producerName: "test", producerVersion: "", graph: graph)
    }
}
