import COpenBLAS
import Core

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
    /// Tensors computed from `from` by ops whose VJP is linear and the same for every sample (Conv,
    /// BatchNorm, Add/Sub, Mul/Div by a constant, average pooling, shape ops, Gemm/MatMul by a
    /// constant): `backwardSum` sums the cotangents over the samples there and pulls back T rows.
    let linearTail: Set<String>

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
                throw ModelError.invalidArgument("'\(to)' depends on '\(t)', not only on '\(from)' and constants")
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
            throw ModelError.invalidArgument("'\(to)' does not depend on '\(from)'")
        }
        dependent = dep
        var tail: Set<String> = [from]
        for (k, i) in nodeIndices.enumerated() {
            let n = model.nodes[i]
            let inputs = zip(n.inputs, dep[k]).filter(\.1).map(\.0)
            if !inputs.isEmpty, inputs.allSatisfy(tail.contains), Subnetwork.hasSampleFreeVJP(n, dependent: dep[k]) {
                tail.insert(n.output)
            }
        }
        linearTail = tail
    }

    /// Whether the VJP of `n` to its inputs flagged in `dependent` is linear and reads no forward
    /// values (only shapes and constants), so it is the same map for every sample.
    static func hasSampleFreeVJP(_ n: Node, dependent: [Bool]) -> Bool {
        let only0 = dependent.first == true && !dependent.dropFirst().contains(true)
        switch n.op {
        case .conv, .batchNorm, .reshape, .identity, .averagePool, .globalAveragePool, .reduceMean, .concat:
            return true
        case .binary(.add), .binary(.sub):
            return true
        case .binary(.mul):
            return dependent.filter { $0 }.count == 1
        case .binary(.div), .gemm, .matMul:
            return only0
        case .rearrange:
            return true
        case .relu, .leakyRelu, .clip, .sigmoid, .hardSigmoid, .hardSwish, .maxPool, .softmax,
             .pointwise, .power, .layerNormalization:
            return false
        case .treeEnsemble, .treeLabel, .argMax, .castToInteger:
            return false
        }
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

    /// `body` on every part of a split tape at once, each part with a single-threaded copy of this
    /// subnetwork (`Model.onSubBatches`); the results in part order.
    func onParts<T: Sendable>(_ parts: [Part], _ body: @Sendable (Subnetwork, Part) throws -> T) throws -> [T] {
        try model.onSubBatches(parts.map(\.range)) { m, r in
            guard let part = parts.first(where: { $0.range == r }) else {
                throw ModelError.invalidArgument("internal: no tape for samples \(r)")
            }
            return try body(on(m), part)
        }
    }

    /// Per name, the parts' tensors concatenated along the batch axis, in part order.
    static func concatenated(_ results: [[String: Tensor]], names: Set<String>) throws -> [String: Tensor] {
        var merged = [String: Tensor]()
        for name in names { merged[name] = try Tensor.concatenate(batches: results.compactMap { $0[name] }) }
        return merged
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
            throw ModelError.shapeMismatch("'\(from)' expects [N, \(per.map(String.init).joined(separator: ", "))], got \(x.shape)")
        }
        guard x.count > 0 else { throw ModelError.invalidArgument("input for '\(from)' is empty (shape \(x.shape))") }
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
            guard let v = values[k] else { throw ModelError.unknownTensor(k, available: [from] + nodeIndices.map { model.nodes[$0].output }) }
            kept[k] = v
        }
        guard let out = values[to] else { throw ModelError.unknownTensor(to, available: Array(values.keys)) }
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
            throw ModelError.unknownTensor(name, available: [from] + nodeIndices.map { model.nodes[$0].output })
        }
        let n = tape.batch, outShape = tape.output.shape
        guard n > 0, cotangent.rank == outShape.count, cotangent.shape[0] % n == 0,
              Array(cotangent.shape.dropFirst()) == Array(outShape.dropFirst()) else {
            throw ModelError.shapeMismatch("cotangent \(cotangent.shape) for '\(to)' of shape \(outShape) (needs [N·T, ...] with N = \(n))")
        }
        let t = cotangent.shape[0] / n
        if !tape.parts.isEmpty {
            let pulled = try onParts(tape.parts) { sub, part in
                let r = part.range
                return try sub.backward(part.tape, cotangent: cotangent.slice(batch: (r.lowerBound * t)..<(r.upperBound * t)),
                                        collecting: names)
            }
            return try Subnetwork.concatenated(pulled, names: names)
        }
        return try pullBack(tape, cotangent: cotangent, tile: t, collecting: names, summing: false)
    }

    /// Σ_n weights[n] · VJP_n(block): one block of T cotangents `[T, ...shape(to)]`, the same for
    /// every sample n of `tape`, pulled back to `from`, weighted per sample and summed over the
    /// samples; returns `[T, ...shape(from)]`. (GIG's integral over its steps is this sum.) Where the
    /// rest of the way to `from` is linear and the same for every sample (`linearTail`: Conv, Add, …),
    /// the cotangents are summed over the samples first and only T rows are pulled back from there.
    public func backwardSum(_ tape: Tape, block: Tensor, weights: [Float]) throws -> Tensor {
        let n = tape.batch, outShape = tape.output.shape
        guard n > 0, weights.count == n, block.rank == outShape.count, block.shape[0] > 0,
              Array(block.shape.dropFirst()) == Array(outShape.dropFirst()) else {
            throw ModelError.shapeMismatch("cotangent block \(block.shape) with \(weights.count) weights for '\(to)' of shape \(outShape) (needs [T, ...] and N = \(n) weights)")
        }
        if !tape.parts.isEmpty {
            let sums = try onParts(tape.parts) { sub, part in
                try sub.backwardSum(part.tape, block: block, weights: Array(weights[part.range]))
            }
            var total = sums[0]
            for s in sums.dropFirst() { try Subnetwork.accumulate(s, into: &total) }
            return total
        }
        let t = block.shape[0], size = block.count
        let tiled = Buffers.make(n * size) { out in
            block.data.withUnsafeBufferPointer { b in
                for i in 0..<n {
                    let w = weights[i], dst = out.baseAddress! + i * size
                    for j in 0..<size { dst[j] = w * b[j] }
                }
            }
        }
        var shape = block.shape
        shape[0] = n * t
        let pulled = try pullBack(tape, cotangent: Tensor(uncheckedShape: shape, data: tiled), tile: t,
                                  collecting: [from], summing: model.batchSeparable)
        guard let g = pulled[from] else { throw ModelError.invalidArgument("internal: no cotangent at '\(from)'") }
        return g.shape.first == n * t ? Subnetwork.sumSamples(g, samples: n) : g
    }

    /// The reverse pass on an unsplit tape: cotangents `[N·T, ...]` at `to`, returns those at
    /// `names`. With `summing`, cotangents reaching a `linearTail` tensor are summed over the N
    /// samples (`[T, ...]`) and pulled back further as such; `names` must then be `[from]`.
    private func pullBack(_ tape: Tape, cotangent: consuming Tensor, tile t: Int, collecting names: Set<String>,
                          summing: Bool) throws -> [String: Tensor] {
        let n = tape.batch
        var grads: [String: Tensor] = [to: cotangent]
        var summed = Set<String>()
        var collected: [String: Tensor] = [:]
        BLASThreads.use(model.threads)
        for (k, i) in nodeIndices.enumerated().reversed() {
            let node = model.nodes[i]
            guard var g = grads.removeValue(forKey: node.output) else { continue }
            if names.contains(node.output) { collected[node.output] = g }
            let needs = dependent[k]
            if !needs.contains(true) { continue }
            if summing && !summed.contains(node.output) && linearTail.contains(node.output) {
                g = Subnetwork.sumSamples(g, samples: n)
                summed.insert(node.output)
            }
            let pulled: [Tensor?]
            if summed.contains(node.output) {
                // One sample's tensors stand for all: the VJP reads only their shapes (and constants).
                let ins = node.inputs.map { $0.isEmpty ? nil : (model.constants[$0] ?? tape.values[$0]?.slice(batch: 0..<1)) }
                guard let y = tape.values[node.output] else { continue }
                pulled = try node.vectorJacobian(inputs: ins, output: y.slice(batch: 0..<1), argmax: nil, grad: consume g,
                                                 tile: t, needs: needs, threads: model.threads)
            } else {
                let ins = node.inputs.map { $0.isEmpty ? nil : (tape.values[$0] ?? model.constants[$0]) }
                guard let y = tape.values[node.output] else { continue }
                pulled = try node.vectorJacobian(inputs: ins, output: y, argmax: tape.argmax[i], grad: consume g,
                                                 tile: t, needs: needs, threads: model.threads)
            }
            let pulledSummed = summed.contains(node.output)
            for (j, name) in node.inputs.enumerated() where j < needs.count && needs[j] {
                guard j < pulled.count, var p = pulled[j] else { continue }
                guard var prev = grads.removeValue(forKey: name) else {
                    grads[name] = p
                    if pulledSummed { summed.insert(name) }
                    continue
                }
                // Both sides of a sum must be summed over the samples, or neither.
                if pulledSummed && !summed.contains(name) {
                    prev = Subnetwork.sumSamples(prev, samples: n)
                    summed.insert(name)
                } else if !pulledSummed && summed.contains(name) {
                    p = Subnetwork.sumSamples(p, samples: n)
                }
                try Subnetwork.accumulate(p, into: &prev)
                grads[name] = prev
            }
        }
        if let g = grads[from] { collected[from] = g }
        for name in names where collected[name] == nil {
            var shape = tape.values[name]?.shape ?? []
            if !shape.isEmpty { shape[0] = summing ? t : shape[0] * t }
            collected[name] = Tensor(shape: shape)
        }
        return collected
    }

    /// `[T, ...]` from `[N·T, ...]` (sample-major): row t of the result is Σ_n g[n·T + t].
    static func sumSamples(_ g: Tensor, samples n: Int) -> Tensor {
        let rows = g.shape.first ?? 1, width = n == 0 ? 0 : g.count / n
        var shape = g.shape
        if !shape.isEmpty { shape[0] = rows / max(1, n) }
        if n == 1 { return Tensor(uncheckedShape: shape, data: g.data) }
        var out = [Float](repeating: 0, count: width)
        let ones = [Float](repeating: 1, count: n)
        cblas_sgemv(CblasRowMajor, CblasTrans, Int32(n), Int32(width), 1, g.data, Int32(width), ones, 1, 0, &out, 1)
        return Tensor(uncheckedShape: shape, data: out)
    }

    /// `total += p`, in place when the shapes agree (and `total`'s storage is not shared),
    /// broadcasting otherwise.
    static func accumulate(_ p: Tensor, into total: inout Tensor) throws {
        guard p.shape == total.shape else {
            total = try Broadcast.forward(.add, total, p)
            return
        }
        let count = Int32(p.count)
        total.data.withUnsafeMutableBufferPointer { d in cblas_saxpy(count, 1, p.data, 1, d.baseAddress, 1) }
    }
}
