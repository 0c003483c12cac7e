import Core
import Foundation

/// Turns an `OnnxModel` into executable nodes: parses attributes, folds constants (including the
/// integer shape arithmetic around Reshape), folds inference BatchNormalization into the Conv
/// before it, and runs every node once on a zero "probe" batch to learn each tensor's shape.
struct GraphBuilder {
    let graph: OnnxGraph
    let opset: Int
    let foldBatchNorm: Bool
    var constants: [String: TensorValue]
    var nodes: [Node] = []
    var producer: [String: Int] = [:]
    /// Probe-batch values of dynamic tensors; `nil` when input shapes are not fully declared.
    var probe: [String: Tensor]?
    /// How many ONNX nodes (and graph outputs) read each tensor.
    let readers: [String: Int]
    let inputs: [String]
    /// Axis-0 extent of the probe batch (the declared batch size, or 1 when symbolic).
    var probeBatch: Int? { inputs.first.flatMap { probe?[$0]?.shape.first } }

    init(_ model: OnnxModel, foldBatchNorm: Bool) throws {
        let graph = model.graph
        self.graph = graph
        opset = model.opsetVersion == 0 ? 13 : model.opsetVersion
        self.foldBatchNorm = foldBatchNorm
        constants = graph.initializers
        var r = [String: Int]()
        for n in graph.nodes { for i in n.inputs where !i.isEmpty { r[i, default: 0] += 1 } }
        for o in graph.outputs { r[o.name, default: 0] += 1 }
        readers = r
        inputs = graph.inputs.map(\.name).filter { graph.initializers[$0] == nil }
        var probe: [String: Tensor]? = [:]
        for info in graph.inputs where graph.initializers[info.name] == nil {
            guard let dims = info.shape else { probe = nil; break }
            var shape = [Int]()
            for (i, d) in dims.enumerated() {
                switch d {
                case .fixed(let v): shape.append(v)
                case .symbolic, .unknown:
                    if i == 0 { shape.append(1) } else { probe = nil }
                }
            }
            if probe != nil {
                // A declared input shape is allocated as the probe batch: check it first.
                _ = try SizeLimits.current.checkedElementCount(shape, what: "model input '\(info.name)'")
            }
            probe?[info.name] = Tensor(shape: shape)
        }
        self.probe = probe
    }

    mutating func build() throws {
        for node in graph.nodes { try add(node) }
        for o in graph.outputs where producer[o.name] == nil && !inputs.contains(o.name) && constants[o.name] == nil {
            throw ModelError.unknownTensor(o.name, available: inputs + nodes.map(\.output))
        }
    }

    // MARK: constants

    func floatConstant(_ name: String, _ node: OnnxNode) throws -> Tensor? {
        guard !name.isEmpty, let v = constants[name] else { return nil }
        switch v {
        case .float(let t): return t
        case .int(let t): return Tensor(uncheckedShape: t.shape, data: t.data.map(Float.init))
        }
    }

    func intConstant(_ name: String, _ node: OnnxNode) throws -> [Int]? {
        guard !name.isEmpty else { return nil }
        guard let v = constants[name] else {
            throw ModelError.unsupportedOp(op: "\(node.opType) with a computed (non-constant) \(name)", node: node.displayName)
        }
        switch v {
        case .int(let t): return t.data
        case .float(let t): return t.data.map { Int($0) }
        }
    }

    private func constantAttribute(_ node: OnnxNode) throws -> TensorValue {
        for (key, value) in node.attributes {
            switch (key, value) {
            case ("value", .tensor(let t)): return t
            case ("value_float", .float(let v)): return .float(Tensor(scalar: v))
            case ("value_floats", .floats(let v)): return .float(Tensor(uncheckedShape: [v.count], data: v))
            case ("value_int", .int(let v)): return .int(try IntTensor(shape: [], data: [v]))
            case ("value_ints", .ints(let v)): return .int(try IntTensor(shape: [v.count], data: v))
            default: continue
            }
        }
        throw ModelError.unsupportedOp(op: "Constant without a numeric value", node: node.displayName)
    }

    // MARK: nodes

    private mutating func add(_ node: OnnxNode) throws {
        if node.domain == "ai.onnx.ml" { return try addML(node) }
        guard node.domain.isEmpty || node.domain == "ai.onnx" else {
            throw ModelError.unsupportedOp(op: "\(node.domain).\(node.opType)", node: node.displayName)
        }
        guard let out = node.outputs.first, !out.isEmpty else { return }
        if let parts = expandMultiOutput(node) {
            for part in parts { try add(part) }
            return
        }
        for extra in node.outputs.dropFirst() where !extra.isEmpty && readers[extra, default: 0] > 0 {
            throw ModelError.unsupportedOp(op: "\(node.opType) with output '\(extra)'", node: node.displayName)
        }
        if node.opType == "Constant" { constants[out] = try constantAttribute(node); return }
        let present = node.inputs.filter { !$0.isEmpty }
        if node.opType == "Shape" {
            constants[out] = try shapeOf(node)
            return
        }
        if !present.isEmpty && present.allSatisfy({ constants[$0] != nil }) {
            if IntFolding.ops.contains(node.opType), case .int = constants[present[0]] {
                constants[out] = try IntFolding.evaluate(node, node.inputs.map { $0.isEmpty ? nil : constants[$0] }, opset: opset)
            } else {
                let n = try makeNode(node)
                let values = try n.inputs.map { try floatConstant($0, node) }
                constants[out] = .float(try n.evaluate(values, threads: 1).0)
            }
            return
        }
        var n = try makeNode(node)
        if case .batchNorm(let bn) = n.op, foldBatchNorm, let src = n.inputs.first, let p = producer[src],
           case .conv(let conv) = nodes[p].op, readers[src, default: 0] == 1,
           !graph.outputs.contains(where: { $0.name == src }) {
            nodes[p].op = .conv(conv.folded(bn))
            nodes[p].output = out
            nodes[p].foldedBatchNorm = n.name
            producer[src] = nil
            producer[out] = p
            if var pr = probe, let x = pr[src] {
                pr[out] = try n.evaluate([x], threads: 1).0
                pr[src] = nil
                probe = pr
            }
            return
        }
        n.output = out
        try append(n, from: node)
    }

    /// Adds an executable node computed from non-constant inputs: runs it on the probe batch and
    /// records it as the producer of its output.
    mutating func append(_ n: Node, from node: OnnxNode) throws {
        // Nodes come in topological order: an input no earlier node produced is missing or part of a cycle.
        for name in n.inputs where !name.isEmpty && producer[name] == nil && !inputs.contains(name) && constants[name] == nil {
            let later = graph.nodes.contains { $0.outputs.contains(name) }
            throw ModelError.invalidModel("node '\(node.displayName)' reads tensor '\(name)', which "
                + (later ? "is produced only by a later node (the graph has a cycle or is not in topological order)"
                         : "no node, initializer or graph input provides"))
        }
        if var pr = probe {
            let values = try n.inputs.map { name -> Tensor? in
                if name.isEmpty { return nil }
                if let v = pr[name] { return v }
                return try floatConstant(name, node)
            }
            pr[n.output] = try n.evaluate(values, threads: 1).0
            probe = pr
        }
        producer[n.output] = nodes.count
        nodes.append(n)
    }

    /// `Shape` folded at load: axis 0 of a computed tensor is the runtime batch.
    private func shapeOf(_ node: OnnxNode) throws -> TensorValue {
        let name = node.inputs.first ?? ""
        var shape: [Int]
        if let c = constants[name] {
            shape = c.shape
        } else if let v = probe?[name] {
            shape = v.shape
            if !shape.isEmpty { shape[0] = ShapeOps.batchMarker }
        } else {
            throw ModelError.unsupportedOp(op: "Shape of a tensor whose shape is unknown at load (declare the input shape)", node: node.displayName)
        }
        let attrs = Attributes(node: node)
        let r = shape.count
        func clamp(_ v: Int) -> Int { min(max(v < 0 ? v + r : v, 0), r) }
        let s = clamp(try attrs.int("start", 0)), e = clamp(try attrs.int("end", r))
        let data = s < e ? Array(shape[s..<e]) : []
        return .int(try IntTensor(shape: [data.count], data: data))
    }

    private func window(_ a: Attributes, kernel: [Int], node: OnnxNode, pooling: Bool) throws -> Window2D {
        guard kernel.count == 2 else {
            throw ModelError.unsupportedOp(op: "\(node.opType) with \(kernel.count)-D kernel (only 2-D)", node: node.displayName)
        }
        let strides = try a.ints("strides") ?? [1, 1]
        let dil = try a.ints("dilations") ?? [1, 1]
        let pads = try a.ints("pads") ?? [0, 0, 0, 0]
        guard strides.count == 2, dil.count == 2, pads.count == 4, strides.allSatisfy({ $0 > 0 }), dil.allSatisfy({ $0 > 0 }) else {
            throw ModelError.invalidModel("node '\(node.displayName)' (\(node.opType)): bad strides/dilations/pads")
        }
        guard let auto = AutoPad(rawValue: try a.string("auto_pad", "NOTSET")) else {
            throw ModelError.invalidModel("node '\(node.displayName)': unknown auto_pad")
        }
        let ceil = try a.int("ceil_mode", 0) != 0
        return Window2D(kernelH: kernel[0], kernelW: kernel[1], strideH: strides[0], strideW: strides[1],
                        dilationH: dil[0], dilationW: dil[1], padTop: pads[0], padLeft: pads[1],
                        padBottom: pads[2], padRight: pads[3], autoPad: auto,
                        ceilMode: pooling && ceil)
    }

    /// Parses one ONNX node into an executable `Node` (constant operands resolved into the op).
    private func makeNode(_ node: OnnxNode) throws -> Node {
        let a = Attributes(node: node)
        let x = node.inputs.first ?? ""
        let name = node.displayName
        func make(_ op: Op, _ inputs: [String]? = nil) -> Node {
            Node(name: name, op: op, inputs: inputs ?? [x], output: node.outputs[0])
        }
        func need(_ i: Int, _ what: String) throws -> Tensor {
            guard i < node.inputs.count, let t = try floatConstant(node.inputs[i], node) else {
                throw ModelError.unsupportedOp(op: "\(node.opType) with a computed (non-constant) \(what)", node: name)
            }
            return t
        }
        switch node.opType {
        case "Conv":
            let w = try need(1, "weight")
            guard w.rank == 4 else { throw ModelError.unsupportedOp(op: "Conv with \(w.rank - 2)-D kernel (only 2-D)", node: name) }
            let bias = node.inputs.count > 2 ? try floatConstant(node.inputs[2], node)?.data : nil
            let kernel = try a.ints("kernel_shape") ?? Array(w.shape[2...])
            let conv = Conv2D(weight: w, bias: bias, window: try window(a, kernel: kernel, node: node, pooling: false),
                              groups: try a.int("group", 1))
            var made = make(.conv(conv))
            made.parameterNames = Array(node.inputs[1...].prefix(bias == nil ? 1 : 2))
            return made
        case "BatchNormalization":
            if try a.int("training_mode", 0) != 0 {
                throw ModelError.unsupportedOp(op: "BatchNormalization in training mode", node: name)
            }
            let eps = try a.float("epsilon", 1e-5)
            let (g, b, m, v) = (try need(1, "scale"), try need(2, "bias"), try need(3, "mean"), try need(4, "var"))
            let c = g.count
            guard b.count == c, m.count == c, v.count == c else {
                throw ModelError.shapeMismatch("BatchNormalization '\(name)' parameters of different lengths")
            }
            var scale = [Float](repeating: 0, count: c), shift = scale
            for i in 0..<c {
                let s = Double(g.data[i]) / (Double(v.data[i]) + Double(eps)).squareRoot()
                scale[i] = Float(s)
                shift[i] = Float(Double(b.data[i]) - Double(m.data[i]) * s)
            }
            return make(.batchNorm(ChannelAffine(scale: scale, shift: shift)))
        case "Relu": return make(.relu)
        case "LeakyRelu": return make(.leakyRelu(alpha: try a.float("alpha", 0.01)))
        case "Sigmoid": return make(.sigmoid)
        case "HardSigmoid": return make(.hardSigmoid(alpha: try a.float("alpha", 0.2), beta: try a.float("beta", 0.5)))
        case "HardSwish": return make(.hardSwish)
        case "Clip":
            if opset < 11 {
                return make(.clip(min: try a.float("min", -.infinity), max: try a.float("max", .infinity)))
            }
            let lo = node.inputs.count > 1 && !node.inputs[1].isEmpty ? try need(1, "min").data.first ?? -.infinity : -.infinity
            let hi = node.inputs.count > 2 && !node.inputs[2].isEmpty ? try need(2, "max").data.first ?? .infinity : .infinity
            return make(.clip(min: lo, max: hi))
        case "Add", "Sub", "Mul", "Div":
            guard let k = BinaryKind(rawValue: node.opType), node.inputs.count == 2 else {
                throw ModelError.invalidModel("node '\(name)' (\(node.opType)) needs two inputs")
            }
            return make(.binary(k), node.inputs)
        case "MaxPool", "AveragePool":
            guard let kernel = try a.ints("kernel_shape") else {
                throw ModelError.invalidModel("node '\(name)' (\(node.opType)) has no kernel_shape")
            }
            if try a.int("storage_order", 0) != 0 { throw ModelError.unsupportedOp(op: "MaxPool with storage_order 1", node: name) }
            let p = Pool2D(window: try window(a, kernel: kernel, node: node, pooling: true))
            return make(node.opType == "MaxPool" ? .maxPool(p) : .averagePool(p, countIncludePad: try a.int("count_include_pad", 0) != 0))
        case "GlobalAveragePool": return make(.globalAveragePool)
        case "ReduceMean":
            let keep = try a.int("keepdims", 1) != 0
            var axes: [Int]
            if opset >= 18 {
                axes = node.inputs.count > 1 ? try intConstant(node.inputs[1], node) ?? [] : []
            } else {
                axes = try a.ints("axes") ?? []
            }
            if axes.isEmpty {
                if try a.int("noop_with_empty_axes", 0) != 0 { return make(.identity) }
                let constRank = try floatConstant(x, node)?.rank
                guard let r = probe?[x]?.rank ?? constRank else {
                    throw ModelError.unsupportedOp(op: "ReduceMean over all axes of unknown rank", node: name)
                }
                axes = Array(0..<r)
            }
            return make(.reduceMean(axes: axes, keepDims: keep))
        case "Flatten": return make(.reshape(.flatten(axis: try a.int("axis", 1))))
        case "Reshape":
            guard node.inputs.count > 1, let target = try intConstant(node.inputs[1], node) else {
                throw ModelError.invalidModel("Reshape '\(name)' has no shape input")
            }
            // Exporters without dynamic axes bake the batch size into the target: when the
            // target's first extent equals the probe batch of the input, it stands for the batch.
            var t = target
            if let b = probe?[x]?.shape.first, let probeBatch = probeBatch, b == probeBatch, t.first == b, b > 0 {
                t[0] = ShapeOps.batchMarker
            }
            return make(.reshape(.reshape(target: t, allowZero: try a.int("allowzero", 0) != 0)))
        case "Squeeze", "Unsqueeze":
            let axes = opset >= 13 ? (node.inputs.count > 1 ? try intConstant(node.inputs[1], node) ?? [] : [])
                                   : (try a.ints("axes") ?? [])
            return make(.reshape(node.opType == "Squeeze" ? .squeeze(axes: axes) : .unsqueeze(axes: axes)))
        case "Concat": return make(.concat(axis: try a.int("axis", 0)), node.inputs)
        case "Gemm":
            guard node.inputs.count >= 2 else { throw ModelError.invalidModel("Gemm '\(name)' needs two inputs") }
            return make(.gemm(alpha: try a.float("alpha", 1), beta: try a.float("beta", 1),
                              transA: try a.int("transA", 0) != 0, transB: try a.int("transB", 0) != 0), node.inputs)
        case "MatMul":
            guard node.inputs.count == 2 else { throw ModelError.invalidModel("MatMul '\(name)' needs two inputs") }
            return make(.matMul, node.inputs)
        case "Identity", "Dropout":
            if node.opType == "Dropout", try a.int("is_test", 1) == 0 && opset < 7 {
                throw ModelError.unsupportedOp(op: "Dropout in training mode", node: name)
            }
            if node.opType == "Dropout", node.inputs.count > 2, let t = try floatConstant(node.inputs[2], node), t.data.first != 0 {
                throw ModelError.unsupportedOp(op: "Dropout in training mode", node: name)
            }
            return make(.identity)
        case "Softmax":
            return make(.softmax(axis: try a.int("axis", opset < 13 ? 1 : -1), coerce2D: opset < 13))
        case "ArgMax":
            return make(.argMax(axis: try a.int("axis", 0), keepDims: try a.int("keepdims", 1) != 0,
                                selectLastIndex: try a.int("select_last_index", 0) != 0))
        case "Cast":
            // TensorProto types: 1 float, 11 double (kept as float32); 2–7, 12, 13 integers; 9 bool.
            switch try a.int("to", 1) {
            case 1, 11: return make(.identity)
            case 2, 3, 4, 5, 6, 7, 12, 13: return make(.castToInteger(boolean: false))
            case 9: return make(.castToInteger(boolean: true))
            case let t: throw ModelError.unsupportedOp(op: "Cast to TensorProto type \(t)", node: name)
            }
        default:
            if let n = try makeModernNode(node) { return n }
            throw ModelError.unsupportedOp(op: node.opType, node: name)
        }
    }
}

