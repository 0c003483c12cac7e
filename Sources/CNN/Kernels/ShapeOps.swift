import Core

/// Shape-only ops (Flatten, Reshape, Squeeze, Unsqueeze) and Concat.
enum ShapeOps {
    /// Marks the runtime batch size inside a Reshape target (from a constant-folded `Shape`).
    static let batchMarker = -(1 << 40)

    static func normalize(_ axis: Int, rank: Int, _ what: String) throws -> Int {
        let a = axis < 0 ? axis + rank : axis
        guard a >= 0 && a < max(rank, 1) || (rank == 0 && a == 0) else {
            throw ModelError.shapeMismatch("\(what): axis \(axis) out of range for rank \(rank)")
        }
        return a
    }

    /// Output shape of `rule` for input shape `s`.
    static func outputShape(_ rule: ReshapeRule, _ s: [Int]) throws -> [Int] {
        let count = Tensor.elementCount(s)
        switch rule {
        case .flatten(let axis):
            let a = axis < 0 ? axis + s.count : axis
            guard a >= 0 && a <= s.count else { throw ModelError.shapeMismatch("Flatten axis \(axis) for shape \(s)") }
            return [s[..<a].reduce(1, *), s[a...].reduce(1, *)]
        case .reshape(let target, let allowZero):
            var out = target
            var infer: Int? = nil
            for (i, v) in target.enumerated() {
                if v == batchMarker {
                    guard let first = s.first else { throw ModelError.shapeMismatch("Reshape of a scalar by batch") }
                    out[i] = first
                } else if v == 0 && !allowZero {
                    guard i < s.count else { throw ModelError.shapeMismatch("Reshape target \(target) copies axis \(i) of \(s)") }
                    out[i] = s[i]
                } else if v == -1 {
                    guard infer == nil else { throw ModelError.shapeMismatch("Reshape target \(target) has two -1") }
                    infer = i
                } else if v < 0 {
                    throw ModelError.shapeMismatch("Reshape target \(target) has a negative extent")
                }
            }
            if let i = infer {
                out[i] = 1
                let known = out.reduce(1, *)
                guard known > 0, count % known == 0 else { throw ModelError.shapeMismatch("cannot reshape \(s) to \(target)") }
                out[i] = count / known
            }
            guard Tensor.elementCount(out) == count else { throw ModelError.shapeMismatch("cannot reshape \(s) to \(target)") }
            return out
        case .squeeze(let axes):
            if axes.isEmpty { return s.filter { $0 != 1 } }
            let norm = try Set(axes.map { try normalize($0, rank: s.count, "Squeeze") })
            for a in norm where s[a] != 1 { throw ModelError.shapeMismatch("Squeeze axis \(a) of \(s) is not 1") }
            return s.indices.filter { !norm.contains($0) }.map { s[$0] }
        case .unsqueeze(let axes):
            let r = s.count + axes.count
            let norm = try Set(axes.map { try normalize($0, rank: r, "Unsqueeze") })
            guard norm.count == axes.count else { throw ModelError.shapeMismatch("Unsqueeze axes \(axes) repeat") }
            var out = [Int](), it = s.makeIterator()
            for i in 0..<r { out.append(norm.contains(i) ? 1 : (it.next() ?? 1)) }
            return out
        }
    }

    static func concat(_ parts: [Tensor], axis: Int) throws -> Tensor {
        guard let first = parts.first else { throw ModelError.invalidModel("Concat of zero tensors") }
        let a = try normalize(axis, rank: first.rank, "Concat")
        var out = first.shape
        out[a] = 0
        for p in parts {
            guard p.rank == first.rank, p.shape.indices.allSatisfy({ $0 == a || p.shape[$0] == first.shape[$0] }) else {
                throw ModelError.shapeMismatch("Concat of \(first.shape) and \(p.shape) along axis \(axis)")
            }
            out[a] += p.shape[a]
        }
        let outer = first.shape[..<a].reduce(1, *)
        var data = [Float]()
        data.reserveCapacity(Tensor.elementCount(out))
        for o in 0..<outer {
            for p in parts {
                let chunk = p.count / max(1, outer)
                data.append(contentsOf: p.data[(o * chunk)..<((o + 1) * chunk)])
            }
        }
        return Tensor(uncheckedShape: out, data: data)
    }

    /// Splits a Concat cotangent back into per-input pieces (`shapes` = forward input shapes;
    /// the cotangent may carry `tile` times as many samples on axis 0).
    static func concatBackward(_ grad: Tensor, shapes: [[Int]], axis: Int, tile t: Int) throws -> [Tensor] {
        let a = try normalize(axis, rank: shapes[0].count, "Concat")
        var shapesT = shapes
        if t > 1 { for i in shapesT.indices { shapesT[i][0] *= t } }
        let outer = shapesT[0][..<a].reduce(1, *)
        let chunks = shapesT.map { Tensor.elementCount($0) / max(1, outer) }
        let total = chunks.reduce(0, +)
        var parts = shapesT.map { s in [Float](repeating: 0, count: Tensor.elementCount(s)) }
        grad.data.withUnsafeBufferPointer { g in
            for o in 0..<outer {
                var off = o * total
                for (i, c) in chunks.enumerated() {
                    parts[i].withUnsafeMutableBufferPointer { d in
                        (d.baseAddress! + o * c).update(from: g.baseAddress! + off, count: c)
                    }
                    off += c
                }
            }
        }
        return zip(shapesT, parts).map { Tensor(uncheckedShape: $0, data: $1) }
    }
}
