import CNN
import Core
import PFV

/// SRD saliency (METHOD §7): the §2 sharing-ratio propagation started from logit c instead of
/// from one PFV, carried to the input.
///
/// The head — the ops after the last C×H×W layer L (global pooling, flatten, Gemm…) — must be
/// affine, so logit c = Σ_k c_k + b over the positions k of L with c_k = ⟨∂z_c/∂L_k, L_k⟩ (the
/// head's gradient is the same at every input). SRD treats the scalar z_c as one output PFV:
/// position k gets c_k plus its bias share b·|c_k|/Σ|c|, so the shares sum to z_c, and L's
/// relevance is propagated down by the iERF's rule. The input map therefore sums to the logit z_c,
/// less whatever SRD drops where a reference PFV is zero (`droppedRelevance`).
///
///     let srd = try SRDSaliency(model: m)
///     let map = try srd.attribute(image: x, target: 3, baseline: x)   // [1, 1, H, W]
public struct SRDSaliency: InputAttributor {
    public let model: Model
    /// L: the last C×H×W tensor before the affine head.
    public let layer: String
    let tracer: ReceptiveFieldTracer

    /// Throws when the head after the last C×H×W tensor is not affine, or SRD does not cover a
    /// node between the input and that tensor.
    public init(model: Model) throws {
        self.model = model
        layer = try SRDSaliency.headInput(model)
        tracer = try ReceptiveFieldTracer(model: model, layer: layer)
        guard tracer.srdUnsupportedNodes.isEmpty else {
            throw TraceError.invalidSettings("SRD saliency: SRD does not cover node(s) \(tracer.srdUnsupportedNodes.joined(separator: ", ")) between the input and '\(layer)'")
        }
    }

    /// The tensor that the chain of affine single-operand ops ending at the first output starts from.
    static func headInput(_ model: Model) throws -> String {
        var t = model.outputNames.first ?? ""
        while let p = model.producer[t] {
            let node = model.nodes[p]
            let operands = node.inputs.filter { !$0.isEmpty && model.constants[$0] == nil }
            guard operands.count == 1 else { break }
            switch node.op {
            case .gemm, .matMul, .reshape, .identity, .globalAveragePool, .reduceMean, .averagePool, .batchNorm,
                 .binary(.add), .binary(.sub), .binary(.mul), .binary(.div):
                t = operands[0]
                continue
            default:
                break
            }
            break
        }
        guard model.tensorShapes[t]?.count == 3 else {
            throw TraceError.invalidSettings("SRD saliency needs an affine head (pooling, flatten, Gemm) after the last C×H×W layer; '\(model.outputNames.first ?? "")' is reached from '\(t)' of shape \(model.tensorShapes[t] ?? [])")
        }
        return t
    }

    /// The head's shares: relevance per position of L for logit `target` (sums to the logit), and the logit.
    public func headShares(image: Tensor, target: Int) throws -> (shares: [Float], logit: Float) {
        let output = model.outputNames.first ?? ""
        let forward = try model.forward(image, keep: [layer])
        guard let values = forward[layer], let logits = forward[output] else {
            throw ModelError.unknownTensor(layer, available: model.tensorNames)
        }
        let classes = logits.count
        guard (0..<classes).contains(target) else {
            throw TraceError.invalidSettings("target class \(target) out of range 0..<\(classes)")
        }
        let z = logits.data[target]
        let g = try model.gradient(image, classes: [target], wrt: layer)
        let shape = model.tensorShapes[layer] ?? []
        let (channels, positions) = (shape[0], shape[1] * shape[2])
        var c = [Double](repeating: 0, count: positions)
        for ch in 0..<channels {
            for k in 0..<positions { c[k] += Double(g.data[ch * positions + k]) * Double(values.data[ch * positions + k]) }
        }
        let bias = Double(z) - c.reduce(0, +)
        let norm = c.reduce(0) { $0 + abs($1) }
        let shares = c.map { ck -> Float in
            Float(ck + (norm > 0 ? bias * abs(ck) / norm : bias / Double(positions)))
        }
        return (shares, z)
    }

    public func attribute(image: Tensor, target: Int, baseline: Tensor) throws -> Tensor {
        try AttributionMath.check(image, image)
        let (shares, _) = try headShares(image: image, target: target)
        let r = try tracer.srd(image: image, start: shares)
        return Tensor(uncheckedShape: [1, 1, image.shape[2], image.shape[3]], data: r.maps.data)
    }
}
