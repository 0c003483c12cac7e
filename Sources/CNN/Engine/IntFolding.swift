import Core

/// Load-time evaluation of integer shape arithmetic (Shape → Gather → Unsqueeze → Concat → …)
/// that exporters emit around Reshape. The runtime batch size appears as `ShapeOps.batchMarker`.
enum IntFolding {
    /// Ops this evaluator handles when their inputs are integer constants.
    static let ops: Set<String> = ["Gather", "Unsqueeze", "Squeeze", "Concat", "Cast", "Identity",
                                   "Add", "Sub", "Mul", "Div", "Slice", "Reshape", "Flatten"]

    static func evaluate(_ node: OnnxNode, _ inputs: [TensorValue?], opset: Int) throws -> TensorValue {
        let attrs = Attributes(node: node)
        func int(_ i: Int) throws -> IntTensor {
            guard i < inputs.count, let v = inputs[i], case .int(let t) = v else {
                throw ModelError.invalidModel("node '\(node.displayName)' (\(node.opType)): input \(i) is not an integer constant")
            }
            return t
        }
        func checked(_ v: Int) throws -> Int {
            if v <= ShapeOps.batchMarker / 2 {
                throw ModelError.unsupportedOp(op: "\(node.opType) on the batch size", node: node.displayName)
            }
            return v
        }
        let a = try int(0)
        switch node.opType {
        case "Identity":
            return .int(a)
        case "Cast":
            let to = try attrs.int("to", 7)
            if to == 1 || to == 11 || to == 10 {
                return .float(Tensor(uncheckedShape: a.shape, data: try a.data.map { Float(try checked($0)) }))
            }
            return .int(a)
        case "Gather":
            let idx = try int(1)
            let axis = try ShapeOps.normalize(try attrs.int("axis", 0), rank: a.shape.count, "Gather")
            let outer = a.shape[..<axis].reduce(1, *), len = a.shape[axis], inner = a.shape[(axis + 1)...].reduce(1, *)
            var data = [Int]()
            for o in 0..<outer {
                for j in idx.data {
                    let k = j < 0 ? j + len : j
                    guard k >= 0 && k < len else { throw ModelError.invalidModel("Gather '\(node.displayName)': index \(j) out of range") }
                    data.append(contentsOf: a.data[((o * len + k) * inner)..<((o * len + k + 1) * inner)])
                }
            }
            let shape = Array(a.shape[..<axis]) + idx.shape + Array(a.shape[(axis + 1)...])
            return .int(try IntTensor(shape: shape, data: data))
        case "Unsqueeze", "Squeeze":
            let axes = opset >= 13 ? (inputs.count > 1 ? try int(1).data : []) : (try attrs.ints("axes") ?? [])
            let rule: ReshapeRule = node.opType == "Squeeze" ? .squeeze(axes: axes) : .unsqueeze(axes: axes)
            return .int(try IntTensor(shape: try ShapeOps.outputShape(rule, a.shape), data: a.data))
        case "Reshape":
            let target = try int(1).data
            return .int(try IntTensor(shape: try ShapeOps.outputShape(.reshape(target: target, allowZero: false), a.shape), data: a.data))
        case "Flatten":
            return .int(try IntTensor(shape: try ShapeOps.outputShape(.flatten(axis: try attrs.int("axis", 1)), a.shape), data: a.data))
        case "Concat":
            let parts = try (0..<inputs.count).map(int)
            guard parts.allSatisfy({ $0.shape.count == 1 }) else {
                throw ModelError.unsupportedOp(op: "Concat of non-1-D integer tensors", node: node.displayName)
            }
            let data = parts.flatMap { $0.data }
            return .int(try IntTensor(shape: [data.count], data: data))
        case "Slice":
            guard a.shape.count == 1 else { throw ModelError.unsupportedOp(op: "Slice of non-1-D integer tensor", node: node.displayName) }
            let starts = opset >= 10 ? try int(1).data : (try attrs.ints("starts") ?? [0])
            let ends = opset >= 10 ? try int(2).data : (try attrs.ints("ends") ?? [Int.max])
            let steps = inputs.count > 4 ? try int(4).data : [1]
            let n = a.data.count
            guard steps == [1], let s0 = starts.first, let e0 = ends.first else {
                throw ModelError.unsupportedOp(op: "Slice with steps", node: node.displayName)
            }
            let s = min(max(s0 < 0 ? s0 + n : s0, 0), n), e = min(max(e0 < 0 ? e0 + n : e0, 0), n)
            let data = s < e ? Array(a.data[s..<e]) : []
            return .int(try IntTensor(shape: [data.count], data: data))
        case "Add", "Sub", "Mul", "Div":
            let b = try int(1)
            let shape = try Broadcast.shape(a.shape, b.shape)
            var data = [Int](repeating: 0, count: Tensor.elementCount(shape))
            var err: ModelError? = nil
            Broadcast.forEachRow(shape, a.shape, b.shape) { oo, oa, ob, len, da, db in
                for i in 0..<len {
                    let x = a.data[oa + i * da], y = b.data[ob + i * db]
                    if x <= ShapeOps.batchMarker / 2 || y <= ShapeOps.batchMarker / 2 {
                        err = .unsupportedOp(op: "\(node.opType) on the batch size", node: node.displayName)
                        return
                    }
                    switch node.opType {
                    case "Add": data[oo + i] = x + y
                    case "Sub": data[oo + i] = x - y
                    case "Mul": data[oo + i] = x * y
                    default:
                        if y == 0 { err = .invalidModel("Div '\(node.displayName)': integer division by zero"); return }
                        data[oo + i] = Int((Double(x) / Double(y)).rounded(.down))
                    }
                }
            }
            if let err { throw err }
            return .int(try IntTensor(shape: shape, data: data))
        default:
            throw ModelError.unsupportedOp(op: node.opType, node: node.displayName)
        }
    }
}
