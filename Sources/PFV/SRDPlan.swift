import CNN

/// The graph from a model's image input to a traced layer, rewritten for SRD relevance
/// propagation: Conv+BatchNormalization pairs fused, each node mapped to an `SRDRule`, and the
/// tensors that only feed a residual Add grouped with that Add's output.
///
/// Grouping: SRD defines the sharing ratio of a contributor against the pre-activation PFV z_j
/// that the non-linearity sees. In `relu(bn(conv(x)) + shortcut)` that is the Add's output, so the
/// Conv's taps and the shortcut are contributors of the same z_j. A tensor produced by Conv, BN or
/// Add whose only reader is such an Add is a *member* of the Add output's group (recursively);
/// every other tensor is a *root* and is its own reference.
struct SRDPlan: Sendable {
    let steps: [SRDStep]
    /// Member tensor → the root tensor whose PFVs are its reference z_j.
    let groupRoot: [String: String]
    /// Nodes no SRD rule covers, as "name (OpType)".
    let unsupported: [String]
    /// Every tensor the propagation reads.
    let tensors: Set<String>
    /// Conv output → stacked weights, for the convs whose per-tap contributions the SRD forward
    /// keeps (`ConvTapProducts.applies`; not those the plan fused with a BatchNormalization).
    let stackedWeights: [String: [Float]]

    init(model: Model, subnetwork sub: Subnetwork) {
        let nodes = model.nodes
        func isConstant(_ name: String) -> Bool { name.isEmpty || model.constants[name] != nil }
        func rank3(_ name: String) -> Bool { model.tensorShapes[name]?.count == 3 }
        var readers = [String: [Int]]()
        for (pos, i) in sub.nodeIndices.enumerated() {
            for x in nodes[i].inputs where !isConstant(x) { readers[x, default: []].append(pos) }
        }
        var steps = [SRDStep]()
        var unsupported = [String]()
        var fused = Set<Int>()
        var stacked = [String: [Float]]()
        for (pos, i) in sub.nodeIndices.enumerated() where !fused.contains(pos) {
            let node = nodes[i]
            let inputs = node.inputs.filter { !isConstant($0) }
            var output = node.output
            let rule: SRDRule?
            switch node.op {
            case .conv(var conv):
                if let r = readers[node.output], r.count == 1, case .batchNorm(let bn) = nodes[sub.nodeIndices[r[0]]].op {
                    conv = conv.folded(bn)
                    fused.insert(r[0])
                    output = nodes[sub.nodeIndices[r[0]]].output
                }
                if output == node.output, ConvTapProducts.applies(to: conv) {
                    stacked[output] = ConvTapProducts.stackedWeights(conv)
                }
                rule = .conv(conv)
            case .batchNorm: rule = .affine
            case .relu, .leakyRelu, .clip, .sigmoid, .hardSigmoid, .hardSwish, .identity: rule = .passThrough
            case .binary(.add): rule = .add
            case .maxPool(let p): rule = .maxPool(p.window)
            case .averagePool(let p, _): rule = .averagePool(p.window)
            case .globalAveragePool: rule = .globalAverage
            case .reduceMean(let axes, let keep) where keep && Set(axes) == [2, 3]: rule = .globalAverage
            case .concat(let axis) where axis == 1 || axis == -3: rule = .concat
            default: rule = nil
            }
            let shapesOK = ([output] + inputs).allSatisfy(rank3)
            if let rule, shapesOK, inputs.count >= 1 {
                steps.append(SRDStep(rule: rule, node: node.name, inputs: inputs, output: output))
            } else {
                unsupported.append("\(node.name) (\(node.op.kind))")
            }
        }
        // Residual Adds need two same-shape operands (no broadcasting) to share one reference.
        for s in steps {
            guard case .add = s.rule else { continue }
            if s.inputs.contains(where: { model.tensorShapes[$0] != model.tensorShapes[s.output] }) {
                unsupported.append("\(s.node) (Add with broadcasting)")
            }
        }
        var stepReaders = [String: Int]()
        for s in steps { for x in s.inputs { stepReaders[x, default: 0] += 1 } }
        let producer = Dictionary(steps.map { ($0.output, $0.rule) }, uniquingKeysWith: { a, _ in a })
        var root = [String: String]()
        for s in steps.reversed() {
            guard case .add = s.rule, s.inputs.count == 2 else { continue }
            for x in s.inputs where stepReaders[x] == 1 && (producer[x]?.isLinear ?? false) {
                root[x] = root[s.output] ?? s.output
            }
        }
        self.steps = steps
        self.unsupported = unsupported
        groupRoot = root
        stackedWeights = stacked
        tensors = Set(steps.flatMap { $0.inputs + [$0.output] })
    }
}
