import COpenBLAS

/// The nodes that compute tensor `to` from tensor `from` (and constants), with a recorded
/// forward pass (`Tape`) and a batched vector-Jacobian product back to `from`.
///
/// Built by `Model.subnetwork(from:to:)`; throws if `to` depends on any graph input or tensor
/// other than `from` and constants. Residual paths inside are included.
public struct Subnetwork: Sendable {
    public private(set) var model: Model
    public let from: String
    public let to: String
    /// Indices into `model.nodes`, in topological order.
    public let nodeIndices: [Int]
    /// For each node in `nodeIndices`, which inputs depend on `from`.
    let dependent: [[Bool]]

    init(model: Model, from: String, to: String) throws {
        try model.checkTensor(from)
        try model.checkTensor(to)
        self.model = model
        self.from = from
        self.to = to
        var needed = Set<Int>()
        var stack = [to]
        var seen = Set<String>()
        while let t = stack.popLast() {
            if t == from || !seen.insert(t).inserted || model.constants[t] != nil { continue }
            guard let p = model.producer[t] else {
                throw CNNError.invalidInput("'\(to)' depends on '\(t)', not only on '\(from)' and constants")
            }
            needed.insert(p)
            stack.append(contentsOf: model.nodes[p].inputs.filter { !$0.isEmpty })
        }
        nodeIndices = needed.sorted()
        var depends: Set<String> = [from]
        var dep = [[Bool]]()
        for i in nodeIndices {
            let n = model.nodes[i]
            let d = n.inputs.map { depends.contains($0) }
            if d.contains(true) { depends.insert(n.output) }
            dep.append(d)
        }
        guard depends.contains(to) else {
            throw CNNError.invalidInput("'\(to)' does not depend on '\(from)'")
        }
        dependent = dep
    }

    /// Values recorded by `forward` for `backward`: batch size, output, every intermediate and
    /// MaxPool argmaxes. `kept` holds the tensors requested with `keep`.
    public struct Tape: Sendable {
        public let batch: Int
        public let output: Tensor
        public let kept: [String: Tensor]
        let values: [String: Tensor]
        let argmax: [Int: [Int32]]
        /// When the forward ran split between threads: each sub-batch's own tape (`values` and
        /// `argmax` are then empty), and `backward` splits the cotangents the same way.
        var parts: [Part] = []
    }

    /// The tape of samples `range` of a split forward pass.
    struct Part: Sendable {
        let range: Range<Int>
        let tape: Tape
    }

    /// This subnetwork on `model` (e.g. a single-threaded copy).
    func on(_ model: Model) -> Subnetwork {
        var s = self
        s.model = model
        return s
    }

    /// Runs the subnetwork on `x` (`[N, ...shape(from)]`), recording what backward needs.
    public func forward(_ x: Tensor, keep: Set<String> = []) throws -> Tape {
        if let per = model.tensorShapes[from], Array(x.shape.dropFirst()) != per || x.rank != per.count + 1 {
            throw CNNError.shapeMismatch("'\(from)' expects [N, \(per.map(String.init).joined(separator: ", "))], got \(x.shape)")
        }
        guard x.count > 0 else { throw CNNError.invalidInput("input for '\(from)' is empty (shape \(x.shape))") }
        if let ranges = model.subBatches(x.shape[0]) {
            let tapes = try model.onSubBatches(ranges) { m, r in try on(m).forward(x.slice(batch: r), keep: keep) }
            var kept = [String: Tensor]()
            for k in keep { kept[k] = try Tensor.concatenate(batches: tapes.compactMap { $0.kept[k] }) }
            return Tape(batch: x.shape[0], output: try Tensor.concatenate(batches: tapes.map(\.output)), kept: kept,
                        values: [:], argmax: [:], parts: zip(ranges, tapes).map { Part(range: $0, tape: $1) })
        }
        var values: [String: Tensor] = [from: x]
        var argmax = [Int: [Int32]]()
        BLASThreads.use(model.threads)
        let members = Set(nodeIndices)
        var skip = -1
        for i in nodeIndices where i != skip {
            let n = model.nodes[i]
            let ins = n.inputs.map { $0.isEmpty ? nil : (values[$0] ?? model.constants[$0]) }
            if let j = model.fusedRelu[i], members.contains(j), !keep.contains(n.output), n.output != to {
                // Conv+Relu fused: the Relu's backward masks by its input's sign, which the
                // rectified output shares, so both names hold the rectified tensor.
                let y = try n.evaluate(ins, threads: model.threads, fuseRelu: true).0
                values[n.output] = y
                values[model.nodes[j].output] = y
                skip = j
                continue
            }
            let (y, arg) = try n.evaluate(ins, threads: model.threads)
            values[n.output] = y
            if let arg { argmax[i] = arg }
        }
        var kept = [String: Tensor]()
        for k in keep {
            guard let v = values[k] else { throw CNNError.unknownTensor(k, available: [from] + nodeIndices.map { model.nodes[$0].output }) }
            kept[k] = v
        }
        guard let out = values[to] else { throw CNNError.unknownTensor(to, available: Array(values.keys)) }
        return Tape(batch: x.shape.first ?? 0, output: out, kept: kept, values: values, argmax: argmax)
    }

    /// Pulls back a batch of cotangents at `to`, shape `[N·T, ...shape(to)]` (T targets per
    /// sample, sample-major), to `from`: returns `[N·T, ...shape(from)]`.
    public func backward(_ tape: Tape, cotangent: Tensor) throws -> Tensor {
        let grads = try backward(tape, cotangent: cotangent, collecting: [from])
        return grads[from] ?? Tensor(shape: [])
    }

    /// Like `backward(_:cotangent:)`, but returns the pulled-back cotangents at every tensor in
    /// `names` (`from` or tensors computed inside the subnetwork), each `[N·T, ...shape(name)]`: one
    /// backward pass gives the gradients at several traced layers. Zero where a name does not
    /// influence `to`.
    public func backward(_ tape: Tape, cotangent: Tensor, collecting names: Set<String>) throws -> [String: Tensor] {
        // A split tape holds its values in the parts, which check the names themselves.
        for name in names where tape.parts.isEmpty && tape.values[name] == nil {
            throw CNNError.unknownTensor(name, available: [from] + nodeIndices.map { model.nodes[$0].output })
        }
        let n = tape.batch, outShape = tape.output.shape
        guard n > 0, cotangent.rank == outShape.count, cotangent.shape[0] % n == 0,
              Array(cotangent.shape.dropFirst()) == Array(outShape.dropFirst()) else {
            throw CNNError.shapeMismatch("cotangent \(cotangent.shape) for '\(to)' of shape \(outShape) (needs [N·T, ...] with N = \(n))")
        }
        let t = cotangent.shape[0] / n
        if !tape.parts.isEmpty {
            let parts = tape.parts
            let pulled = try model.onSubBatches(parts.map(\.range)) { m, r in
                guard let part = parts.first(where: { $0.range == r }) else {
                    throw CNNError.invalidInput("internal: no tape for samples \(r)")
                }
                return try on(m).backward(part.tape, cotangent: cotangent.slice(batch: (r.lowerBound * t)..<(r.upperBound * t)),
                                          collecting: names)
            }
            var merged = [String: Tensor]()
            for name in names { merged[name] = try Tensor.concatenate(batches: pulled.compactMap { $0[name] }) }
            return merged
        }
        var grads: [String: Tensor] = [to: cotangent]
        var collected: [String: Tensor] = [:]
        BLASThreads.use(model.threads)
        for (k, i) in nodeIndices.enumerated().reversed() {
            let node = model.nodes[i]
            guard let g = grads.removeValue(forKey: node.output) else { continue }
            if names.contains(node.output) { collected[node.output] = g }
            let needs = dependent[k]
            if !needs.contains(true) { continue }
            let ins = node.inputs.map { $0.isEmpty ? nil : (tape.values[$0] ?? model.constants[$0]) }
            guard let y = tape.values[node.output] else { continue }
            let pulled = try node.vectorJacobian(inputs: ins, output: y, argmax: tape.argmax[i], grad: g,
                                                 tile: t, needs: needs, threads: model.threads)
            for (j, name) in node.inputs.enumerated() where j < needs.count && needs[j] {
                guard j < pulled.count, let p = pulled[j] else { continue }
                if let prev = grads[name] {
                    grads[name] = try Broadcast.forward(.add, prev, p)
                } else {
                    grads[name] = p
                }
            }
        }
        if let g = grads[from] { collected[from] = g }
        for name in names where collected[name] == nil {
            var shape = tape.values[name]?.shape ?? []
            if !shape.isEmpty { shape[0] *= t }
            collected[name] = Tensor(shape: shape)
        }
        return collected
    }
}
