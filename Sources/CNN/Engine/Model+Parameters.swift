import Foundation
import Core

/// The learned weights of a model's Conv and linear (Gemm, MatMul by a constant) layers, and
/// in-memory copies of the model with some of them replaced: what the sanity checks of METHOD §7
/// (model randomization, model perturbation) are built from. BatchNormalization nodes (load the
/// model with `foldBatchNorm: false` to keep them apart from the convs) are never touched.
///
/// A parameter is a named constant (an ONNX initializer): when several layers read one (tied
/// weights), it is one parameter — replaced once, with every reader (and any other node reading
/// the constant) seeing the same new values.
///
///     let layers = model.parameterLayers                       // conv/linear, input to logits
///     var rng = SamplingRNG(seed: 1)
///     let random = model.randomizing(layers.suffix(2).map(\.node), rng: &rng)   // the top two layers
public struct ParameterLayer: Sendable, Equatable {
    /// Index in `Model.nodes`.
    public let node: Int
    /// The node's name.
    public let name: String
    /// "Conv", "Gemm" or "MatMul".
    public let kind: String
    /// Inputs to one output unit: C_in/groups·kH·kW for a conv, the input features for a linear layer.
    public let fanIn: Int
    /// The name of the constant (ONNX initializer) the weight was read from; other layers may read it too.
    public let weight: String
    /// The bias's constant, when the layer has one.
    public let bias: String?
}

extension Model {
    /// Conv and linear layers with constant weights, in graph order (input first).
    public var parameterLayers: [ParameterLayer] {
        nodes.enumerated().compactMap { i, n in
            switch n.op {
            case .conv(let conv):
                let w = conv.weight.shape, names = Model.parameterNames(ofConv: n)
                return ParameterLayer(node: i, name: n.name, kind: "Conv", fanIn: w.dropFirst().reduce(1, *), weight: names[0],
                                      bias: conv.bias == nil ? nil : names.dropFirst().first)
            case .gemm(_, _, _, let transB):
                guard n.inputs.count > 1, let w = constants[n.inputs[1]], w.rank == 2 else { return nil }
                return ParameterLayer(node: i, name: n.name, kind: "Gemm", fanIn: transB ? w.shape[1] : w.shape[0],
                                      weight: n.inputs[1], bias: Model.constantBias(n, constants))
            case .matMul:
                guard n.inputs.count > 1, let w = constants[n.inputs[1]], w.rank == 2 else { return nil }
                return ParameterLayer(node: i, name: n.name, kind: "MatMul", fanIn: w.shape[0], weight: n.inputs[1], bias: nil)
            default:
                return nil
            }
        }
    }

    /// The names of a conv's weight and bias: the ONNX names it was read from, or names of its
    /// own for a conv built without them (never by `Model(onnx:)`).
    static func parameterNames(ofConv n: Node) -> [String] {
        n.parameterNames.isEmpty ? ["\(n.name)#weight", "\(n.name)#bias"] : n.parameterNames
    }

    /// A Gemm's third input, when it is a constant.
    static func constantBias(_ n: Node, _ constants: [String: Tensor]) -> String? {
        n.inputs.count > 2 && !n.inputs[2].isEmpty && constants[n.inputs[2]] != nil ? n.inputs[2] : nil
    }

    /// A copy whose layers at `nodeIndices` have weights redrawn from N(0, 2/fan_in) and biases
    /// set to 0 (Adebayo et al.'s re-initialisation, METHOD §7). A weight shared with other
    /// layers is drawn once (with the fan-in of the first chosen layer reading it) and every
    /// reader gets the draw, chosen or not.
    public func randomizing(_ nodeIndices: [Int], rng: inout SamplingRNG) throws -> Model {
        var copy = self
        var done = Set<String>()
        for layer in parameterLayers where nodeIndices.contains(layer.node) {
            let std = Float((2 / Double(layer.fanIn)).squareRoot())
            if done.insert(layer.weight).inserted {
                let draw = (0..<copy.parameterCount(layer)).map { _ in std * Model.gaussian(&rng) }
                try copy.replaceParameter(layer.weight) { _ in draw }
            }
            if let bias = layer.bias, done.insert(bias).inserted {
                try copy.replaceParameter(bias) { old in [Float](repeating: 0, count: old.count) }
            }
        }
        return copy
    }

    /// A copy with N(0, σ²) noise added to every conv/linear weight and bias (the GGIG paper's
    /// model perturbation, METHOD §7); a parameter shared by several layers gets one noise draw,
    /// added for all its readers. Throws unless σ > 0.
    public func perturbing(sigma: Float, rng: inout SamplingRNG) throws -> Model {
        guard sigma > 0, sigma.isFinite else { throw InputError.invalidParameter(.sigma, "noise σ must be positive, got \(sigma)") }
        var copy = self
        var done = Set<String>()
        for layer in parameterLayers {
            for (name, count) in [(layer.weight, copy.parameterCount(layer)), (layer.bias, copy.biasCount(layer))] {
                guard let name, done.insert(name).inserted else { continue }
                let noise = (0..<count).map { _ in sigma * Model.gaussian(&rng) }
                try copy.replaceParameter(name) { old in zip(old, noise).map(+) }
            }
        }
        return copy
    }

    /// A standard normal draw (Box–Muller on two uniforms).
    static func gaussian(_ rng: inout SamplingRNG) -> Float {
        let u = max(rng.unit(), 1e-300), v = rng.unit()
        return Float((-2 * log(u)).squareRoot() * cos(2 * Double.pi * v))
    }

    /// The number of weights of `layer`.
    func parameterCount(_ layer: ParameterLayer) -> Int {
        if case .conv(let conv) = nodes[layer.node].op { return conv.weight.count }
        return constants[layer.weight]?.count ?? 0
    }

    /// The number of biases of `layer` (0 without a bias).
    func biasCount(_ layer: ParameterLayer) -> Int {
        if case .conv(let conv) = nodes[layer.node].op { return conv.bias?.count ?? 0 }
        return layer.bias.flatMap { constants[$0]?.count } ?? 0
    }

    /// Replaces the parameter `name` by `transform(old values)` wherever it is read: in every conv
    /// whose weight or bias came from it and in `constants` (the linear layers' weights and biases,
    /// and any other node reading it).
    mutating func replaceParameter(_ name: String, _ transform: ([Float]) throws -> [Float]) throws {
        func replaced(_ old: [Float]) throws -> [Float] {
            let new = try transform(old)
            guard new.count == old.count else {
                throw ModelError.invalidArgument("internal: \(new.count) new values for parameter '\(name)' of \(old.count)")
            }
            return new
        }
        for i in nodes.indices {
            let names = Model.parameterNames(ofConv: nodes[i])
            guard case .conv(let conv) = nodes[i].op, names.contains(name) else { continue }
            let weight = names[0] == name ? Tensor(uncheckedShape: conv.weight.shape, data: try replaced(conv.weight.data)) : conv.weight
            let bias = names.count > 1 && names[1] == name ? try conv.bias.map(replaced) : conv.bias
            nodes[i].op = .conv(Conv2D(weight: weight, bias: bias, window: conv.window, groups: conv.groups))
        }
        if let old = constants[name] {
            constants[name] = Tensor(uncheckedShape: old.shape, data: try replaced(old.data))
        }
    }
}
