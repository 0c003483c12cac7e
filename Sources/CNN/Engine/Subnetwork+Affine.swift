import Core

/// The affine part of a sub-network, for callers that run F on many inputs that are sums of a few
/// fixed parts (concept deletion: x = fixed + Σ_{q∈S} x_q).
///
/// The tensors computed from `from` by affine ops only (`linearTail`: Conv, BatchNorm, Add/Sub,
/// Mul/Div by a constant, average pooling, shape ops, Gemm/MatMul by a constant) are affine maps
/// f(x) of the input, so f(fixed + Σ_S x_q) = f(fixed) + Σ_S (f(x_q) − f(0)). The **frontier** is
/// the set of such tensors that a non-affine node (or the caller, as `to` or a kept tensor) reads;
/// `affineForward` computes it for a few inputs, and `forward(frontier:keep:)` runs only the
/// nodes after it. Sums of frontier values then replace the affine ops of every row.
///
/// ```swift
/// let names = sub.affineFrontier(keep: [])
/// let parts = try sub.affineForward(Tensor(uncheckedShape: [3] + shape, data: zero + fixed + x1), frontier: names)
/// // rows' frontier values: parts[name] of `fixed` + Σ (parts of x_q − parts of 0)
/// let out = try sub.forward(frontier: rows, keep: [])[sub.to]
/// ```
extension Subnetwork {
    /// Frontier tensor names (sorted): affine in `from`, and read by a non-affine node of the
    /// sub-network, or `to`, or in `keep`. `from` itself is one when a non-affine node reads it.
    public func affineFrontier(keep: Set<String> = []) -> [String] {
        var frontier = Set<String>()
        for (k, i) in nodeIndices.enumerated() where !linearTail.contains(model.nodes[i].output) {
            for (input, dependsOnFrom) in zip(model.nodes[i].inputs, dependent[k]) where dependsOnFrom && linearTail.contains(input) {
                frontier.insert(input)
            }
        }
        for name in keep.union([to]) where linearTail.contains(name) { frontier.insert(name) }
        return frontier.sorted()
    }

    /// The frontier tensors `names` for a batch `x` of `from` (`[N, ...shape(from)]`), running only
    /// the affine nodes.
    public func affineForward(_ x: Tensor, frontier names: [String]) throws -> [String: Tensor] {
        var values: [String: Tensor] = [from: x]
        BLASThreads.use(model.threads)
        for i in nodeIndices where linearTail.contains(model.nodes[i].output) {
            let n = model.nodes[i]
            values[n.output] = try n.evaluate(n.inputs.map { $0.isEmpty ? nil : (values[$0] ?? model.constants[$0]) },
                                              threads: model.threads).0
        }
        var result = [String: Tensor]()
        for name in names {
            guard let v = values[name] else { throw ModelError.unknownTensor(name, available: Array(values.keys)) }
            result[name] = v
        }
        return result
    }

    /// Runs the nodes after the affine frontier from its values (every frontier tensor, `[N, ...]`);
    /// returns `to` and the tensors in `keep`. No tape is kept: tensors are freed after their last
    /// use. With `threads > 1` the batch is split between threads as in `forward`.
    public func forward(frontier: [String: Tensor], keep: Set<String> = []) throws -> [String: Tensor] {
        let n = frontier.values.first?.shape.first ?? 0
        guard n > 0, frontier.values.allSatisfy({ $0.shape.first == n }) else {
            throw ModelError.invalidArgument("frontier of '\(from)' → '\(to)' is empty or its tensors differ in batch size")
        }
        let wanted = keep.union([to])
        if let ranges = model.subBatches(n) {
            let parts = try model.onSubBatches(ranges) { m, r in try on(m).forward(frontier: frontier.mapValues { $0.slice(batch: r) }, keep: keep) }
            var merged = [String: Tensor]()
            for name in wanted { merged[name] = try Tensor.concatenate(batches: parts.compactMap { $0[name] }) }
            return merged
        }
        let rest = nodeIndices.filter { !linearTail.contains(model.nodes[$0].output) }
        var lastUse = [String: Int]()
        for i in rest { for x in model.nodes[i].inputs { lastUse[x] = i } }
        var values = frontier
        BLASThreads.use(model.threads)
        let members = Set(rest)
        var skip = -1
        for i in rest where i != skip {
            let node = model.nodes[i]
            let ins = try node.inputs.map { name -> Tensor? in
                if name.isEmpty { return nil }
                if let v = values[name] ?? model.constants[name] { return v }
                throw ModelError.unknownTensor(name, available: Array(values.keys))
            }
            if let j = model.fusedRelu[i], members.contains(j), !wanted.contains(node.output) {
                values[model.nodes[j].output] = try node.evaluate(ins, threads: model.threads, fuseRelu: true).0
                skip = j
            } else {
                values[node.output] = try node.evaluate(ins, threads: model.threads).0
            }
            for x in node.inputs where lastUse[x] == i && !wanted.contains(x) { values[x] = nil }
        }
        var result = [String: Tensor]()
        for name in wanted {
            guard let v = values[name] else { throw ModelError.unknownTensor(name, available: Array(values.keys)) }
            result[name] = v
        }
        return result
    }
}
