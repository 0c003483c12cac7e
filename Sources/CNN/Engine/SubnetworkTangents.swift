import COpenBLAS
import Core

/// Forward mode: Jacobian-vector products of a subnetwork along a recorded forward pass.
extension Subnetwork {
    /// Pushes a batch of tangents at `from`, shape `[N·D, ...shape(from)]` (D directions per
    /// sample, sample-major), through the linearisation at the tape's values. Returns the
    /// tangents at `to` and at every tensor in `names` (computed inside the subnetwork), each
    /// `[N·D, ...shape(name)]`; zero where a name does not depend on `from`.
    ///
    /// One sweep gives every output's directional derivative for all D directions: the mirror
    /// of `backward(_:cotangent:collecting:)`, cheaper when directions are fewer than targets.
    public func jvp(_ tape: Tape, tangents: Tensor, collecting names: Set<String> = []) throws -> [String: Tensor] {
        for name in names where tape.parts.isEmpty && tape.values[name] == nil {
            throw ModelError.unknownTensor(name, available: [from] + nodeIndices.map { model.nodes[$0].output })
        }
        let n = tape.batch
        let inShape = model.tensorShapes[from] ?? []
        guard n > 0, tangents.rank == inShape.count + 1, tangents.shape[0] % n == 0,
              Array(tangents.shape.dropFirst()) == inShape else {
            throw ModelError.shapeMismatch("tangents \(tangents.shape) for '\(from)' of shape \(inShape) (needs [N·D, ...] with N = \(n))")
        }
        let d = tangents.shape[0] / n
        let wanted = names.union([to])
        if !tape.parts.isEmpty {
            let pushed = try onParts(tape.parts) { sub, part in
                let r = part.range
                return try sub.jvp(part.tape, tangents: tangents.slice(batch: (r.lowerBound * d)..<(r.upperBound * d)),
                                   collecting: names)
            }
            return try Subnetwork.concatenated(pushed, names: wanted)
        }
        // Readers left per tensor, so that tangents are dropped once consumed.
        var readers = [String: Int]()
        for i in nodeIndices { for x in model.nodes[i].inputs where !x.isEmpty { readers[x, default: 0] += 1 } }
        var live: [String: Tensor] = [from: tangents]
        var collected: [String: Tensor] = [:]
        if names.contains(from) { collected[from] = tangents }
        BLASThreads.use(model.threads)
        for i in nodeIndices {
            let node = model.nodes[i]
            let ins = node.inputs.map { $0.isEmpty ? nil : (tape.values[$0] ?? model.constants[$0]) }
            let dins = node.inputs.map { $0.isEmpty ? nil : live[$0] }
            for x in node.inputs where !x.isEmpty {
                readers[x, default: 1] -= 1
                if readers[x] == 0 { live[x] = nil }
            }
            guard let y = tape.values[node.output],
                  let dy = try node.jacobianVector(inputs: ins, output: y, argmax: tape.argmax[i], tangents: dins,
                                                   tile: d, threads: model.threads) else { continue }
            if wanted.contains(node.output) { collected[node.output] = dy }
            if readers[node.output, default: 0] > 0 { live[node.output] = dy }
        }
        for name in wanted where collected[name] == nil {
            var shape = tape.values[name]?.shape ?? []
            if !shape.isEmpty { shape[0] *= d }
            collected[name] = Tensor(shape: shape)
        }
        return collected
    }
}
