import Foundation
import Core

/// The learned weights of a model's Conv and linear (Gemm, MatMul by a constant) layers, and
/// in-memory copies of the model with some of them replaced: what the sanity checks of METHOD §7
/// (model randomization, model perturbation) are built from. BatchNormalization nodes (load the
/// model with `foldBatchNorm: false` to keep them apart from the convs) are never touched.
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
}

extension Model {
    /// Conv and linear layers with constant weights, in graph order (input first).
    public var parameterLayers: [ParameterLayer] {
        nodes.enumerated().compactMap { i, n in
            switch n.op {
            case .conv(let conv):
                let w = conv.weight.shape
                return ParameterLayer(node: i, name: n.name, kind: "Conv", fanIn: w.dropFirst().reduce(1, *))
            case .gemm(_, _, _, let transB):
                guard n.inputs.count > 1, let w = constants[n.inputs[1]], w.rank == 2 else { return nil }
                return ParameterLayer(node: i, name: n.name, kind: "Gemm", fanIn: transB ? w.shape[1] : w.shape[0])
            case .matMul:
                guard n.inputs.count > 1, let w = constants[n.inputs[1]], w.rank == 2 else { return nil }
                return ParameterLayer(node: i, name: n.name, kind: "MatMul", fanIn: w.shape[0])
            default:
                return nil
            }
        }
    }

    /// A copy whose layers at `nodeIndices` have weights redrawn from N(0, 2/fan_in) and biases
    /// set to 0 (Adebayo et al.'s re-initialisation, METHOD §7).
    public func randomizing(_ nodeIndices: [Int], rng: inout SamplingRNG) throws -> Model {
        var copy = self
        for layer in parameterLayers where nodeIndices.contains(layer.node) {
            let std = Float((2 / Double(layer.fanIn)).squareRoot())
            try copy.replaceParameters(layer.node) { weight, _ in
                (weight.map { _ in std * Model.gaussian(&rng) }, nil)
            }
        }
        return copy
    }

    /// A copy with N(0, σ²) noise added to every conv/linear weight and bias (the GGIG paper's
    /// model perturbation, METHOD §7). Throws unless σ > 0.
    public func perturbing(sigma: Float, rng: inout SamplingRNG) throws -> Model {
        guard sigma > 0, sigma.isFinite else { throw InputError.invalidParameter(.sigma, "noise σ must be positive, got \(sigma)") }
        var copy = self
        for layer in parameterLayers {
            try copy.replaceParameters(layer.node) { weight, bias in
                (weight.map { $0 + sigma * Model.gaussian(&rng) }, bias.map { $0.map { $0 + sigma * Model.gaussian(&rng) } })
            }
        }
        return copy
    }

    /// A standard normal draw (Box–Muller on two uniforms).
    static func gaussian(_ rng: inout SamplingRNG) -> Float {
        let u = max(rng.unit(), 1e-300), v = rng.unit()
        return Float((-2 * log(u)).squareRoot() * cos(2 * Double.pi * v))
    }

    /// Replaces node `index`'s weight and bias by `transform(weight, bias)`; a nil bias from the
    /// transform means zero (where the layer has a bias).
    mutating func replaceParameters(_ index: Int, _ transform: ([Float], [Float]?) throws -> ([Float], [Float]?)) throws {
        let node = nodes[index]
        switch node.op {
        case .conv(let conv):
            let (w, b) = try transform(conv.weight.data, conv.bias)
            let bias = conv.bias.map { old in b ?? [Float](repeating: 0, count: old.count) }
            nodes[index].op = .conv(Conv2D(weight: Tensor(uncheckedShape: conv.weight.shape, data: w), bias: bias,
                                           window: conv.window, groups: conv.groups))
        case .gemm, .matMul:
            guard let weight = constants[node.inputs[1]] else { return }
            let biasName = node.inputs.count > 2 && !node.inputs[2].isEmpty ? node.inputs[2] : nil
            let bias = biasName.flatMap { constants[$0] }
            let (w, b) = try transform(weight.data, bias?.data)
            constants[node.inputs[1]] = Tensor(uncheckedShape: weight.shape, data: w)
            if let biasName, let bias {
                constants[biasName] = Tensor(uncheckedShape: bias.shape, data: b ?? [Float](repeating: 0, count: bias.count))
            }
        default:
            throw ModelError.invalidArgument("internal: node \(node.name) has no weights to replace")
        }
    }
}
