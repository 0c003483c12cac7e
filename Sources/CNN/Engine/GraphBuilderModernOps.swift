import Core

/// Parsing of the ops added for transformer-era CNNs (ConvNeXt). Multi-output nodes (Split, and
/// LayerNormalization with its Mean / InvStdDev outputs) become one single-output node per output
/// that is read, told apart by the `partKey` attribute.
extension GraphBuilder {
    /// Synthetic attribute: which output of a multi-output ONNX node a split-off node computes.
    static let partKey = "gigtrace.output_index"
    /// Synthetic attribute: how many outputs the original node had (Split into equal parts).
    static let outputCountKey = "gigtrace.output_count"
    static let multiOutputOps: Set<String> = ["Split", "LayerNormalization"]

    /// The single-output nodes a multi-output `node` is expanded into (outputs nobody reads are
    /// dropped, except the first), or nil when `node` needs no expansion.
    func expandMultiOutput(_ node: OnnxNode) -> [OnnxNode]? {
        guard GraphBuilder.multiOutputOps.contains(node.opType), node.outputs.count > 1,
              node.attributes[GraphBuilder.partKey] == nil else { return nil }
        return node.outputs.enumerated().compactMap { i, o in
            guard !o.isEmpty, i == 0 || readers[o, default: 0] > 0 else { return nil }
            var part = node
            part.outputs = [o]
            part.attributes[GraphBuilder.partKey] = .int(i)
            part.attributes[GraphBuilder.outputCountKey] = .int(node.outputs.count)
            if i > 0 { part.name = node.displayName + ":" + o }
            return part
        }
    }

    /// The node for one of the ops of this file, or nil for other op types.
    func makeModernNode(_ node: OnnxNode) throws -> Node? {
        let a = Attributes(node: node)
        let x = node.inputs.first ?? ""
        let name = node.displayName
        func make(_ op: Op) -> Node { Node(name: name, op: op, inputs: [x], output: node.outputs[0]) }
        func optionalInts(_ i: Int) throws -> [Int]? {
            i < node.inputs.count && !node.inputs[i].isEmpty ? try intConstant(node.inputs[i], node) : nil
        }
        func constantInput(_ i: Int, _ what: String) throws -> Tensor? {
            guard i < node.inputs.count, !node.inputs[i].isEmpty else { return nil }
            guard let t = try floatConstant(node.inputs[i], node) else {
                throw ModelError.unsupportedOp(op: "\(node.opType) with a computed (non-constant) \(what)", node: name)
            }
            return t
        }
        /// The extent of `axis` of the input, from the probe batch or a constant.
        func inputExtent(_ axis: Int) throws -> Int {
            let constShape = try floatConstant(x, node)?.shape
            guard let s = probe?[x]?.shape ?? constShape else {
                throw ModelError.unsupportedOp(op: "\(node.opType) of a tensor whose shape is unknown at load (declare the input shape)", node: name)
            }
            return s[try ShapeOps.normalize(axis, rank: s.count, node.opType)]
        }
        switch node.opType {
        case "Erf": return make(.pointwise(.erf))
        case "Sqrt": return make(.pointwise(.sqrt))
        case "Gelu":
            switch try a.string("approximate", "none") {
            case "none": return make(.pointwise(.gelu))
            case "tanh": return make(.pointwise(.geluTanh))
            case let other: throw ModelError.invalidModel("node '\(name)' (Gelu): unknown approximate '\(other)'")
            }
        case "Pow":
            guard let e = try constantInput(1, "exponent") else {
                throw ModelError.invalidModel("node '\(name)' (Pow) needs two inputs")
            }
            return make(.power(exponent: e))
        case "Transpose":
            return make(.rearrange(Rearrangement(kind: .transpose(perm: try a.ints("perm") ?? []))))
        case "Slice":
            let starts: [Int], ends: [Int], axes: [Int]?, steps: [Int]?
            if opset < 10 {
                guard let s = try a.ints("starts"), let e = try a.ints("ends") else {
                    throw ModelError.invalidModel("node '\(name)' (Slice) has no starts/ends")
                }
                (starts, ends, axes, steps) = (s, e, try a.ints("axes"), nil)
            } else {
                guard let s = try optionalInts(1), let e = try optionalInts(2) else {
                    throw ModelError.invalidModel("node '\(name)' (Slice) has no starts/ends")
                }
                (starts, ends, axes, steps) = (s, e, try optionalInts(3), try optionalInts(4))
            }
            let kind = Rearrangement.Kind.slice(starts: starts, ends: ends, axes: axes ?? Array(0..<starts.count),
                                                steps: steps ?? [Int](repeating: 1, count: starts.count))
            return make(.rearrange(Rearrangement(kind: kind)))
        case "Pad":
            guard let mode = PadMode(rawValue: try a.string("mode", "constant")) else {
                throw ModelError.unsupportedOp(op: "Pad mode '\(try a.string("mode", ""))'", node: name)
            }
            let pads: [Int], value: Float, axes: [Int]?
            if opset < 11 {
                guard let p = try a.ints("pads") else { throw ModelError.invalidModel("node '\(name)' (Pad) has no pads") }
                (pads, value, axes) = (p, try a.float("value", 0), nil)
            } else {
                guard let p = try optionalInts(1) else { throw ModelError.invalidModel("node '\(name)' (Pad) has no pads") }
                (pads, value, axes) = (p, try constantInput(2, "constant_value")?.data.first ?? 0, try optionalInts(3))
            }
            return make(.rearrange(Rearrangement(kind: .pad(pads: pads, axes: axes, mode: mode, value: value))))
        case "Split":
            let axis = try a.int("axis", 0), part = try a.int(GraphBuilder.partKey, 0)
            var sizes = opset >= 13 ? try optionalInts(1) : try a.ints("split")
            if sizes == nil {
                let n = try inputExtent(axis)
                let count = try a.int("num_outputs", try a.int(GraphBuilder.outputCountKey, node.outputs.count))
                guard count > 0 else { throw ModelError.invalidModel("node '\(name)' (Split) has no outputs") }
                let piece = (n + count - 1) / count
                sizes = (0..<count).map { min(piece, max(0, n - $0 * piece)) }
            }
            return make(.rearrange(Rearrangement(kind: .splitPart(axis: axis, sizes: sizes ?? [], part: part))))
        case "LayerNormalization":
            let output = LayerNormalization.Output(rawValue: try a.int(GraphBuilder.partKey, 0)) ?? .normalized
            let ln = LayerNormalization(axis: try a.int("axis", -1), epsilon: try a.float("epsilon", 1e-5),
                                        scale: try constantInput(1, "scale"), bias: try constantInput(2, "bias"),
                                        output: output)
            return make(.layerNormalization(ln))
        default:
            return nil
        }
    }
}
