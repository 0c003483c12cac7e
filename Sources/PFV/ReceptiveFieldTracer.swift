import CNN
import COpenBLAS
import Core

/// Effective receptive fields of PFVs of one traced layer: the iERF by SRD sharing ratios and the
/// gradient ERF (METHOD §2), for many PFVs of one image at once.
///
/// SRD covers Conv (with BN folded, or BatchNormalization kept after it or alone), pointwise
/// activations (relevance passes through; the ratio is taken on the pre-activation), residual Add,
/// MaxPool (argmax routing), AveragePool, GlobalAveragePool / ReduceMean over H, W, and channel
/// Concat. If the path from the input to the layer holds any other op, `maps(…, method: .srd)`
/// falls back to the gradient ERF and says so in `warnings`, naming the nodes.
public struct ReceptiveFieldTracer: Sendable {
    public let model: Model
    public let layer: LayerGeometry
    let toLayer: Subnetwork
    let plan: SRDPlan

    /// Throws when `layer` is not a C×H×W tensor of `model` computed from its image input.
    public init(model: Model, layer: String) throws {
        self.model = model
        self.layer = try LayerGeometry(model: model, layer: layer)
        guard layer != model.inputName else {
            throw PFVError.invalidRequest("layer '\(layer)' is the image input itself; pick a tensor computed from it: \(LayerGeometry.pfvLayers(of: model).filter { $0 != layer }.prefix(40).joined(separator: ", "))")
        }
        toLayer = try model.subnetwork(from: model.inputName, to: layer)
        plan = SRDPlan(model: model, subnetwork: toLayer)
    }

    /// Nodes between the input and the layer that SRD does not cover ("name (OpType)").
    public var srdUnsupportedNodes: [String] { plan.unsupported }

    /// Picks image `index` of `images` (`[N, C, H, W]`) as a batch of one; throws naming the range.
    public func image(_ images: Tensor, index: Int) throws -> Tensor {
        guard images.rank == 4, let n = images.shape.first else {
            throw PFVError.shapeMismatch("images must be [N, C, H, W], got \(images.shape)")
        }
        guard (0..<n).contains(index) else {
            throw PFVError.invalidRequest("image index \(index) is outside the batch: valid 0..<\(n)")
        }
        return images.slice(batch: index..<(index + 1))
    }

    /// Receptive fields of the PFVs at `positions` of image `index` of `images`.
    public func maps(images: Tensor, index: Int, positions: [PFVPosition], method: ERFMethod = .srd) throws -> ERFMaps {
        let one = try image(images, index: index)
        switch method {
        case .gradient:
            return ERFMaps(maps: try gradient(image: one, positions: positions), method: .gradient, warnings: [], srd: nil)
        case .srd:
            if !plan.unsupported.isEmpty {
                let warning = "SRD does not cover node(s) \(plan.unsupported.joined(separator: ", ")) between '\(model.inputName)' and '\(layer.name)'; using the gradient ERF instead"
                return ERFMaps(maps: try gradient(image: one, positions: positions), method: .gradient, warnings: [warning], srd: nil)
            }
            let r = try srd(image: one, positions: positions)
            return ERFMaps(maps: r.maps, method: .srd, warnings: [], srd: r)
        }
    }

    /// iERF of the PFVs at `positions` of `image` (`[1, C, H, W]`): each a one-hot of mass 1 at its
    /// position, shared down to the input. Throws when SRD does not cover a node on the path.
    ///
    /// Sharing ratios μ_{k→j} = ⟨c_k + b_k, z_j⟩/‖z_j‖² are taken on the pre-activation z_j; where
    /// ‖z_j‖ = 0 there is nothing to share by, and the relevance there is dropped (reported in
    /// `droppedRelevance`). A PFV whose post-ReLU vector is zero still has an iERF, from its z_j.
    public func srd(image: Tensor, positions: [PFVPosition]) throws -> SRDResult {
        guard plan.unsupported.isEmpty else {
            throw PFVError.invalidRequest("SRD does not cover node(s) \(plan.unsupported.joined(separator: ", ")) between '\(model.inputName)' and '\(layer.name)'")
        }
        try check(image, positions)
        let (values, numerators) = try srdForward(image)
        let count = positions.count
        var start = [Float](repeating: 0, count: layer.positions * count)
        for (i, pos) in positions.enumerated() { start[(pos.h * layer.width + pos.w) * count + i] = 1 }
        var run = SRDPropagation(plan: plan, values: values, input: model.inputName, pfvs: count, numerators: numerators)
        let r = try run.run(layer: layer.name, start: start)
        let (h, w) = (image.shape[2], image.shape[3])
        var maps = [Float](repeating: 0, count: count * h * w)
        for k in 0..<(h * w) { for i in 0..<count { maps[i * h * w + k] = r[k * count + i] } }
        return SRDResult(maps: Tensor(uncheckedShape: [count, h, w], data: maps), mass: run.mass, droppedRelevance: run.dropped)
    }

    /// SRD propagation of a relevance map on the layer's positions (`start`: H·W values, row-major)
    /// down to the input of `image` (`[1, C, H, W]`): one `[1, H_in, W_in]` map. The SRD saliency
    /// of METHOD §7 starts here with the target logit's shares at the last C×H×W layer.
    public func srd(image: Tensor, start: [Float]) throws -> SRDResult {
        guard plan.unsupported.isEmpty else {
            throw PFVError.invalidRequest("SRD does not cover node(s) \(plan.unsupported.joined(separator: ", ")) between '\(model.inputName)' and '\(layer.name)'")
        }
        try checkImage(image)
        guard start.count == layer.positions else {
            throw PFVError.shapeMismatch("SRD start relevance has \(start.count) values, layer '\(layer.name)' has \(layer.positions) positions")
        }
        let (values, numerators) = try srdForward(image)
        var run = SRDPropagation(plan: plan, values: values, input: model.inputName, pfvs: 1, numerators: numerators)
        let r = try run.run(layer: layer.name, start: start)
        return SRDResult(maps: Tensor(uncheckedShape: [1, image.shape[2], image.shape[3]], data: r), mass: run.mass,
                         droppedRelevance: run.dropped)
    }

    /// The forward pass from the input to the layer, node by node, keeping every tensor. The convs
    /// in `plan.stackedWeights` run as one GEMM over all taps (`ConvTapProducts`); their products
    /// are reduced to sharing numerators as soon as the conv's reference z (its group root) is
    /// computed, then dropped. The other nodes run as in the engine.
    private func srdForward(_ image: Tensor) throws -> ([String: Tensor], [String: ConvTapNumerators]) {
        var values: [String: Tensor] = [model.inputName: image]
        var pending = [String: [(String, ConvTapProducts)]]()
        var numerators = [String: ConvTapNumerators]()
        BLASThreads.use(model.threads)
        for i in toLayer.nodeIndices {
            let node = model.nodes[i]
            if case .conv(let conv) = node.op, let stacked = plan.stackedWeights[node.output],
               let x = node.inputs.first.flatMap({ values[$0] }) {
                let p = try ConvTapProducts(conv: conv, stacked: stacked, x: x)
                values[node.output] = p.output()
                pending[plan.groupRoot[node.output] ?? node.output, default: []].append((node.output, p))
            } else {
                let inputs = node.inputs.map { $0.isEmpty ? nil : (values[$0] ?? model.constants[$0]) }
                values[node.output] = try node.evaluate(inputs, threads: model.threads).0
            }
            if let waiting = pending.removeValue(forKey: node.output), let z = values[node.output] {
                for (name, p) in waiting { numerators[name] = try p.numerators(z: z) }
            }
        }
        return (values, numerators)
    }

    /// Gradient ERF of the PFVs at `positions` of `image` (`[1, C, H, W]`): for each PFV x_p,
    /// Σ_ch |∂⟨x_p, x_p⟩/∂input[ch]|, all PFVs pulled back at once as a batch of cotangents.
    /// Result `[P, H_in, W_in]`.
    public func gradient(image: Tensor, positions: [PFVPosition]) throws -> Tensor {
        let g = try inputGradients(image: image, positions: positions)
        let (p, c, h, w) = (g.shape[0], g.shape[1], g.shape[2], g.shape[3])
        var maps = [Float](repeating: 0, count: p * h * w)
        for i in 0..<p {
            for ch in 0..<c {
                let base = (i * c + ch) * h * w
                for k in 0..<(h * w) { maps[i * h * w + k] += abs(g.data[base + k]) }
            }
        }
        return Tensor(uncheckedShape: [p, h, w], data: maps)
    }

    /// The signed gradients ∂⟨x_p, x_p⟩/∂input of the PFVs at `positions`, `[P, C_in, H_in, W_in]`.
    public func inputGradients(image: Tensor, positions: [PFVPosition]) throws -> Tensor {
        try check(image, positions)
        let tape = try toLayer.forward(image)
        let x = tape.output
        let hw = layer.positions, c = layer.channels
        var cot = Tensor(shape: [positions.count, c, layer.height, layer.width])
        for (i, pos) in positions.enumerated() {
            let k = pos.h * layer.width + pos.w
            for ch in 0..<c { cot.data[(i * c + ch) * hw + k] = 2 * x.data[ch * hw + k] }
        }
        return try toLayer.backward(tape, cotangent: cot)
    }

    private func check(_ image: Tensor, _ positions: [PFVPosition]) throws {
        try checkImage(image)
        guard !positions.isEmpty else { throw PFVError.invalidRequest("no PFV positions given for layer '\(layer.name)'") }
        for p in positions { try layer.check(p) }
    }

    private func checkImage(_ image: Tensor) throws {
        guard image.rank == 4, image.shape[0] == 1 else {
            throw PFVError.shapeMismatch("receptive fields take one image [1, C, H, W], got \(image.shape)")
        }
    }
}
