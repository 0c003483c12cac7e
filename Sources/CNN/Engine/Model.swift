import COpenBLAS
import Core

/// An executable CNN built from an ONNX graph: Float32, NCHW, forward and batched VJPs.
///
/// Axis 0 of every computed tensor is the batch. `nodes` is the graph in topological order and
/// stays publicly readable (op kind, attributes, Conv weights after BN folding, tensor names).
public struct Model: Sendable {
    /// Executable nodes in topological order.
    public internal(set) var nodes: [Node]
    /// Float constants read by `nodes` (initializers and folded subgraphs), by name.
    public internal(set) var constants: [String: Tensor]
    /// Graph inputs that are not initializers, in declaration order.
    public let inputNames: [String]
    /// Graph outputs, in declaration order.
    public let outputNames: [String]
    /// Per-image shape (axis 0 dropped) of every graph input and node output, from a probe run;
    /// empty when the ONNX file does not declare its input shapes.
    public let tensorShapes: [String: [Int]]
    /// Default ONNX opset the model was exported with.
    public let opsetVersion: Int
    /// Total threads: BLAS threads × this engine's threads never exceed it.
    public var threads: Int
    /// Index in `nodes` of the producer of each computed tensor.
    public let producer: [String: Int]
    /// Conv node index → index of the Relu that is the only reader of its output; the pair runs
    /// as one fused kernel unless the Conv output itself is requested.
    let fusedRelu: [Int: Int]
    /// No node mixes samples along axis 0, so `forward` and `gradient` may split a batch
    /// between threads (see `Model.isBatchSeparable`).
    let batchSeparable: Bool

    /// The (first) image input.
    public var inputName: String { inputNames.first ?? "" }
    /// Per-image shape `[C, H, W]` of the image input (empty when undeclared).
    public var inputShape: [Int] { tensorShapes[inputName] ?? [] }
    /// Every tensor the model computes, graph inputs first, then node outputs in order.
    public var tensorNames: [String] { inputNames + nodes.map(\.output) }

    /// Reads an ONNX file and builds the model.
    /// Graph errors (a missing producer, a declared input too large, shapes that do not fit) are
    /// prefixed with the file.
    public static func load(path: String, threads: Int = 1, foldBatchNorm: Bool = true) throws -> Model {
        let onnx = try OnnxReader.read(path: path)
        do {
            return try Model(onnx: onnx, threads: threads, foldBatchNorm: foldBatchNorm)
        } catch InputError.invalidInput(let message) where !message.contains(path) {
            throw InputError.invalidInput("\(path): \(message)")
        } catch let error as ModelError {
            switch error {
            case .invalidModel(let message) where !message.contains(path), .invalidArgument(let message) where !message.contains(path):
                throw ModelError.invalidModel("\(path): \(message)")
            case .unsupported(let message) where !message.contains(path):
                throw ModelError.unsupported("\(path): \(message)")
            case .shapeMismatch(let message):
                throw ModelError.invalidModel("\(path): shape mismatch: \(message)")
            default:
                throw error
            }
        }
    }

    /// Builds the executable graph; throws `unsupportedOp` naming the first op it cannot run.
    public init(onnx: OnnxModel, threads: Int = 1, foldBatchNorm: Bool = true) throws {
        var b = try GraphBuilder(onnx, foldBatchNorm: foldBatchNorm)
        try b.build()
        nodes = b.nodes
        inputNames = b.inputs
        outputNames = onnx.graph.outputs.map(\.name)
        opsetVersion = b.opset
        self.threads = max(1, threads)
        producer = b.producer
        var consts = [String: Tensor]()
        for n in b.nodes {
            for name in n.inputs where !name.isEmpty {
                guard let v = b.constants[name] else { continue }
                switch v {
                case .float(let t): consts[name] = t
                case .int(let t): consts[name] = Tensor(uncheckedShape: t.shape, data: t.data.map(Float.init))
                }
            }
        }
        for o in outputNames where b.producer[o] == nil {
            if case .float(let t) = b.constants[o] { consts[o] = t }
        }
        constants = consts
        var shapes = [String: [Int]]()
        if let probe = b.probe {
            for (k, v) in probe { shapes[k] = Array(v.shape.dropFirst()) }
        }
        tensorShapes = shapes
        var readers = [String: Int]()
        for n in nodes { for x in n.inputs { readers[x, default: 0] += 1 } }
        var fused = [Int: Int]()
        for (i, n) in nodes.enumerated() {
            guard case .conv = n.op, readers[n.output] == 1, !outputNames.contains(n.output),
                  i + 1 < nodes.count, case .relu = nodes[i + 1].op, nodes[i + 1].inputs == [n.output] else { continue }
            fused[i] = i + 1
        }
        fusedRelu = fused
        batchSeparable = Model.isBatchSeparable(nodes, constants: consts, shapes: shapes)
    }

    /// Number of nodes per op kind; BatchNormalization folded into a Conv counts as
    /// "BatchNormalization (folded)".
    public var opCounts: [String: Int] {
        var c = [String: Int]()
        for n in nodes {
            c[n.op.kind, default: 0] += 1
            if n.foldedBatchNorm != nil { c["BatchNormalization (folded)", default: 0] += 1 }
        }
        return c
    }

    /// Block outputs worth tracing: activations applied to a residual Add (or the Add itself when
    /// no activation follows); for plain CNNs, the activations that feed a pooling op.
    public var suggestedTraceLayers: [String] {
        var readers = [String: [Int]]()
        for (i, n) in nodes.enumerated() { for x in n.inputs { readers[x, default: []].append(i) } }
        var picks = [String]()
        for n in nodes {
            guard case .binary(.add) = n.op, n.inputs.allSatisfy({ constants[$0] == nil }) else { continue }
            let next = readers[n.output] ?? []
            if next.count == 1, nodes[next[0]].op.isActivation { picks.append(nodes[next[0]].output) } else { picks.append(n.output) }
        }
        if !picks.isEmpty { return picks }
        for n in nodes where n.op.isActivation {
            let pools = (readers[n.output] ?? []).contains { i in
                switch nodes[i].op {
                case .maxPool, .averagePool, .globalAveragePool, .reduceMean: return true
                default: return false
                }
            }
            if pools { picks.append(n.output) }
        }
        return picks
    }

    /// Throws `unknownTensor` (listing the available names) unless `name` is a computed tensor.
    public func checkTensor(_ name: String) throws {
        guard producer[name] != nil || inputNames.contains(name) else {
            throw ModelError.unknownTensor(name, available: tensorNames)
        }
    }

    /// Runs the graph on a batch `[N, ...inputShape]` of the image input. Returns every graph
    /// output plus the tensors named in `keep`.
    public func forward(_ input: Tensor, keep: Set<String> = []) throws -> [String: Tensor] {
        try forward(inputs: [inputName: input], keep: keep)
    }

    /// Runs the graph on named inputs (all graph inputs must be given). With `threads > 1` the
    /// batch is split between threads (same numbers as a serial run).
    public func forward(inputs: [String: Tensor], keep: Set<String> = []) throws -> [String: Tensor] {
        for k in keep { try checkTensor(k) }
        let n = inputs[inputName]?.shape.first ?? 0
        if let parts = subBatches(n), inputNames.allSatisfy({ inputs[$0]?.shape.first == n }) {
            let results = try onSubBatches(parts) { model, r in
                try model.forward(inputs: inputs.mapValues { $0.slice(batch: r) }, keep: keep)
            }
            var merged = [String: Tensor]()
            for name in keep.union(outputNames) {
                // Constant outputs have no batch axis: every part holds the same tensor.
                let computed = producer[name] != nil || inputNames.contains(name)
                merged[name] = computed ? try Tensor.concatenate(batches: results.compactMap { $0[name] }) : results[0][name]
            }
            return merged
        }
        var env = [String: Tensor]()
        for name in inputNames {
            guard let v = inputs[name] else {
                throw ModelError.invalidArgument("missing value for graph input '\(name)'")
            }
            try checkInputShape(name, v)
            env[name] = v
        }
        let wanted = keep.union(outputNames)
        var lastUse = [String: Int]()
        for (i, n) in nodes.enumerated() { for x in n.inputs { lastUse[x] = i } }
        BLASThreads.use(threads)
        var skip = -1
        for (i, n) in nodes.enumerated() where i != skip {
            let values = n.inputs.map { $0.isEmpty ? nil : (env[$0] ?? constants[$0]) }
            if let j = fusedRelu[i], !wanted.contains(n.output) {
                env[nodes[j].output] = try n.evaluate(values, threads: threads, fuseRelu: true).0
                skip = j
            } else {
                env[n.output] = try n.evaluate(values, threads: threads).0
            }
            for x in n.inputs where lastUse[x] == i && !wanted.contains(x) { env[x] = nil }
        }
        var result = [String: Tensor]()
        for name in wanted { result[name] = env[name] ?? constants[name] }
        return result
    }

    /// Throws `shapeMismatch` unless batch `v` is `[N, ...]` of the declared per-image shape of
    /// input `name` (no check when the model does not declare it).
    public func checkInputShape(_ name: String, _ v: Tensor) throws {
        guard let per = tensorShapes[name], v.rank > 0 else { return }
        guard v.rank == per.count + 1, Array(v.shape.dropFirst()) == per else {
            throw ModelError.shapeMismatch("input '\(name)' expects [N, \(per.map(String.init).joined(separator: ", "))], got \(v.shape)")
        }
    }

    /// The part of the graph that computes `to` from `from` (see `Subnetwork`).
    public func subnetwork(from: String, to: String) throws -> Subnetwork {
        try Subnetwork(model: self, from: from, to: to)
    }

    /// Gradient of logit `classes[n]` of graph output `output` (default: the first) for image n,
    /// w.r.t. tensor `wrt` (default: the input). Result: `[N, ...shape(wrt)]`.
    public func gradient(_ input: Tensor, classes: [Int], wrt: String? = nil, output: String? = nil) throws -> Tensor {
        let target = output ?? outputNames.first ?? ""
        let source = wrt ?? inputName
        let n = input.shape.first ?? 0
        guard classes.count == n else {
            throw ModelError.shapeMismatch("\(classes.count) target classes for a batch of \(n) images")
        }
        if let parts = subBatches(n) {
            let grads = try onSubBatches(parts) { model, r in
                try model.gradient(input.slice(batch: r), classes: Array(classes[r]), wrt: wrt, output: output)
            }
            return try Tensor.concatenate(batches: grads)
        }
        var start = input
        if source != inputName {
            try checkTensor(source)
            guard let v = try forward(input, keep: [source])[source] else { throw ModelError.unknownTensor(source, available: tensorNames) }
            start = v
        }
        let sub = try subnetwork(from: source, to: target)
        let tape = try sub.forward(start)
        let classCount = tape.output.count / max(1, n)
        var seed = Tensor(shape: tape.output.shape)
        for (i, c) in classes.enumerated() {
            guard c >= 0 && c < classCount else {
                throw ModelError.invalidArgument("target class \(c) out of range 0..<\(classCount) for output '\(target)'")
            }
            seed.data[i * classCount + c] = 1
        }
        return try sub.backward(tape, cotangent: seed)
    }
}
