import Core

/// ONNX `Pad` modes.
public enum PadMode: String, Sendable {
    case constant, edge, reflect
}

/// An op whose every output element is one input element or a fill value: Transpose, Slice, Pad
/// and one output of a Split. The forward is a gather through an index map, the VJP the matching
/// scatter-add, the JVP the gather of the tangent with fill 0.
///
/// When the op leaves axis 0 alone (the usual case: NCHW ↔ NHWC transposes, channel slices,
/// spatial pads) the map is built for one sample and applied to each of the N (or N·T batched
/// cotangent) samples; otherwise it is built for the whole tensor and batched (co)tangents are
/// refused.
///
///     let t = Rearrangement(kind: .transpose(perm: [0, 2, 3, 1]))
///     let y = try t.forward(x)            // [N, C, H, W] -> [N, H, W, C]
public struct Rearrangement: Sendable {
    public enum Kind: Sendable {
        /// Output axis i is input axis `perm[i]` (empty: reversed axes).
        case transpose(perm: [Int])
        /// ONNX Slice with its inputs resolved (`axes` possibly negative, `steps` non-zero).
        case slice(starts: [Int], ends: [Int], axes: [Int], steps: [Int])
        /// ONNX Pad: `pads` = begins then ends for each of `axes` (nil: every axis), negative = crop.
        case pad(pads: [Int], axes: [Int]?, mode: PadMode, value: Float)
        /// Output `part` of a Split along `axis` into pieces of the given `sizes`.
        case splitPart(axis: Int, sizes: [Int], part: Int)
    }

    public var kind: Kind

    public init(kind: Kind) { self.kind = kind }

    public var onnxName: String {
        switch kind {
        case .transpose: return "Transpose"
        case .slice: return "Slice"
        case .pad: return "Pad"
        case .splitPart: return "Split"
        }
    }

    /// Output shape and, per output element, the input offset it reads (−1: the fill value), for
    /// an input of `shape`.
    struct IndexMap {
        var outputShape: [Int]
        var source: [Int32]
    }

    /// Per output axis: the input axis it reads and, per output coordinate, the input coordinate
    /// (−1 outside the input).
    private func axisMaps(_ shape: [Int]) throws -> (outputShape: [Int], inputAxis: [Int], coordinates: [[Int]]) {
        let r = shape.count
        func norm(_ a: Int) throws -> Int { try ShapeOps.normalize(a, rank: r, onnxName) }
        var inputAxis = Array(0..<r)
        var coords = shape.map { Array(0..<$0) }
        switch kind {
        case .transpose(let perm):
            let p = perm.isEmpty ? Array((0..<r).reversed()) : try perm.map(norm)
            guard p.count == r, Set(p).count == r else {
                throw ModelError.shapeMismatch("Transpose perm \(perm) does not fit a tensor of shape \(shape)")
            }
            inputAxis = p
            coords = p.map { Array(0..<shape[$0]) }
        case .slice(let starts, let ends, let axes, let steps):
            guard starts.count == ends.count, axes.count == starts.count, steps.count == starts.count else {
                throw ModelError.shapeMismatch("Slice starts/ends/axes/steps of different lengths")
            }
            for (i, a0) in axes.enumerated() {
                let a = try norm(a0), n = shape[a], step = steps[i]
                guard step != 0 else { throw ModelError.invalidModel("Slice step 0 on axis \(a0)") }
                func resolve(_ v: Int) -> Int { v < 0 ? v + n : v }
                var s = resolve(starts[i]), e = resolve(ends[i])
                if step > 0 {
                    s = min(max(s, 0), n); e = min(max(e, 0), n)
                } else {
                    s = min(max(s, 0), n - 1); e = min(max(e, -1), n - 1)
                }
                let count = step > 0 ? max(0, (e - s + step - 1) / step) : max(0, (s - e + (-step) - 1) / (-step))
                coords[a] = (0..<count).map { s + $0 * step }
            }
        case .pad(let pads, let axes0, let mode, _):
            let axes = try axes0.map { try $0.map(norm) } ?? Array(0..<r)
            guard pads.count == 2 * axes.count else {
                throw ModelError.shapeMismatch("Pad with \(pads.count) pads for \(axes.count) axes of \(shape)")
            }
            for (i, a) in axes.enumerated() {
                let n = shape[a], begin = pads[i], end = pads[i + axes.count]
                let count = n + begin + end
                guard count >= 0 else { throw ModelError.shapeMismatch("Pad crops axis \(a) of \(shape) below zero") }
                guard mode == .constant || n > 0 else { throw ModelError.unsupported("Pad \(mode.rawValue) of an empty axis") }
                guard mode != .reflect || (begin < n && end < n) else {
                    throw ModelError.unsupportedOp(op: "Pad reflect wider than the axis (\(n))", node: onnxName)
                }
                coords[a] = (0..<max(0, count)).map { o in
                    let i = o - begin
                    if i >= 0 && i < n { return i }
                    switch mode {
                    case .constant: return -1
                    case .edge: return i < 0 ? 0 : n - 1
                    case .reflect: return i < 0 ? -i : 2 * (n - 1) - i
                    }
                }
            }
        case .splitPart(let axis, let sizes, let part):
            let a = try norm(axis)
            guard sizes.reduce(0, +) == shape[a], part < sizes.count, sizes.allSatisfy({ $0 >= 0 }) else {
                throw ModelError.shapeMismatch("Split sizes \(sizes) do not add up to axis \(axis) of \(shape)")
            }
            let start = sizes[..<part].reduce(0, +)
            coords[a] = Array(start..<(start + sizes[part]))
        }
        return (coords.map(\.count), inputAxis, coords)
    }

    func indexMap(_ shape: [Int]) throws -> IndexMap {
        let (outShape, inputAxis, coords) = try axisMaps(shape)
        var inStride = [Int](repeating: 1, count: shape.count)
        for a in stride(from: shape.count - 2, through: 0, by: -1) { inStride[a] = inStride[a + 1] * shape[a + 1] }
        // Offsets built axis by axis: source = Σ coords[a][o_a] · stride(inputAxis[a]), −1 if any is −1.
        var source: [Int32] = [0]
        for a in 0..<outShape.count {
            let st = inStride[inputAxis[a]]
            var next = [Int32]()
            next.reserveCapacity(source.count * outShape[a])
            for base in source {
                for c in coords[a] { next.append(base < 0 || c < 0 ? -1 : base + Int32(c * st)) }
            }
            source = next
        }
        return IndexMap(outputShape: outShape, source: source)
    }

    /// Whether the op moves, cuts or pads axis 0 of a rank-`rank` input (then samples mix).
    func touchesAxis0(rank: Int, extent0: Int) -> Bool {
        func isZero(_ a: Int) -> Bool { a == 0 || a + rank == 0 }
        switch kind {
        case .transpose(let perm):
            return perm.isEmpty ? rank > 1 : !isZero(perm[0])
        case .slice(let starts, let ends, let axes, let steps):
            guard let i = axes.firstIndex(where: isZero) else { return false }
            return !(steps[i] == 1 && starts[i] == 0 && ends[i] >= extent0)
        case .pad(let pads, let axes, _, _):
            let list = axes ?? Array(0..<rank)
            guard let i = list.firstIndex(where: isZero) else { return false }
            return pads[i] != 0 || pads[i + list.count] != 0
        case .splitPart(let axis, _, _):
            return isZero(axis)
        }
    }

    /// The map for one sample (axis 0 set to 1) when axis 0 is untouched, else for all of `shape`.
    private func plan(_ shape: [Int]) throws -> (map: IndexMap, perSample: Bool) {
        guard !shape.isEmpty, !touchesAxis0(rank: shape.count, extent0: shape[0]) else {
            return (try indexMap(shape), false)
        }
        var one = shape
        one[0] = 1
        return (try indexMap(one), true)
    }

    /// The op on `x`.
    public func forward(_ x: Tensor) throws -> Tensor {
        let fill: Float
        if case .pad(_, _, .constant, let v) = kind { fill = v } else { fill = 0 }
        return try gather(x, forwardShape: x.shape, fill: fill, tile: 1)
    }

    /// The JVP: the same gather applied to the tangent `[N·T, ...]` (fill 0).
    func tangent(_ dx: Tensor, inputShape: [Int], tile t: Int) throws -> Tensor {
        try gather(dx, forwardShape: inputShape, fill: 0, tile: t)
    }

    private func gather(_ x: Tensor, forwardShape: [Int], fill: Float, tile t: Int) throws -> Tensor {
        let (map, perSample) = try plan(forwardShape)
        guard perSample || t == 1 else {
            throw ModelError.unsupported("\(onnxName) across axis 0: batched tangents not supported")
        }
        let rows = perSample ? (x.shape.first ?? 1) : 1
        let perIn = rows == 0 ? 0 : x.count / rows, perOut = map.source.count
        var shape = map.outputShape
        if perSample { shape[0] = rows }
        let data: [Float] = Buffers.make(rows * perOut) { out in
            x.data.withUnsafeBufferPointer { src in
                map.source.withUnsafeBufferPointer { idx in
                    for r in 0..<rows {
                        let o = r * perOut, i0 = r * perIn
                        for j in 0..<perOut { let s = Int(idx[j]); out[o + j] = s < 0 ? fill : src[i0 + s] }
                    }
                }
            }
        }
        return Tensor(uncheckedShape: shape, data: data)
    }

    /// The VJP: each output cotangent added back onto the input element it was read from.
    func backward(_ grad: Tensor, inputShape: [Int], tile t: Int) throws -> Tensor {
        let (map, perSample) = try plan(inputShape)
        guard perSample || t == 1 else {
            throw ModelError.unsupported("\(onnxName) across axis 0: batched cotangents not supported")
        }
        let perOut = map.source.count
        let rows = perOut == 0 ? (perSample ? (inputShape.first ?? 1) * t : 1) : grad.count / perOut
        var shape = inputShape
        if perSample, !shape.isEmpty { shape[0] = rows }
        let perIn = perSample ? inputShape.dropFirst().reduce(1, *) : Tensor.elementCount(inputShape)
        var out = [Float](repeating: 0, count: rows * perIn)
        grad.data.withUnsafeBufferPointer { g in
            map.source.withUnsafeBufferPointer { idx in
                out.withUnsafeMutableBufferPointer { dst in
                    for r in 0..<rows {
                        let o = r * perOut, i0 = r * perIn
                        for j in 0..<perOut { let s = Int(idx[j]); if s >= 0 { dst[i0 + s] += g[o + j] } }
                    }
                }
            }
        }
        return Tensor(uncheckedShape: shape, data: out)
    }
}
