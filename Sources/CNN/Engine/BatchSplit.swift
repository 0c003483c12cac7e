import COpenBLAS
import Core

/// Running one batch as `threads` sub-batches, each on its own thread with single-threaded
/// OpenBLAS inside: every kernel (GEMM, im2col, pooling, elementwise, allocation) runs in
/// parallel, and at most `threads` threads are busy. Each sample's arithmetic is the same as in a
/// serial run (per-sample GEMMs, single-threaded BLAS), so results do not depend on the split.
extension Model {
    /// True when no node mixes samples along axis 0 (no reduction, concatenation, reshape or
    /// batch-shaped constant over it), so sub-batches can run independently. Conservative: an
    /// axis whose position is unknown (negative axis, undeclared shapes) counts as mixing.
    static func isBatchSeparable(_ nodes: [Node], constants: [String: Tensor], shapes: [String: [Int]]) -> Bool {
        func rank(_ tensor: String) -> Int? { shapes[tensor].map { $0.count + 1 } }
        /// Whether `axis` of a tensor of rank `r` (unknown: nil) can be the batch axis.
        func mayBeBatch(_ axis: Int, _ r: Int?) -> Bool {
            if axis >= 0 { return axis == 0 }
            guard let r else { return true }
            return axis + r == 0
        }
        /// A constant operand that has a batch-sized leading axis where samples are.
        func batchShapedConstant(_ name: String, outRank: Int?) -> Bool {
            guard let c = constants[name] else { return false }
            guard c.rank >= 2, (c.shape.first ?? 1) != 1 else { return false }
            return outRank.map { c.rank >= $0 } ?? true
        }
        for n in nodes {
            let input = n.inputs.first ?? ""
            switch n.op {
            case .conv, .batchNorm, .relu, .leakyRelu, .clip, .sigmoid, .hardSigmoid, .hardSwish, .identity,
                 .maxPool, .averagePool, .globalAveragePool, .treeEnsemble, .treeLabel, .castToInteger:
                continue
            case .argMax(let axis, _, _):
                if mayBeBatch(axis, rank(input)) { return false }
            case .binary:
                if n.inputs.contains(where: { batchShapedConstant($0, outRank: rank(n.output)) }) { return false }
            case .reduceMean(let axes, _):
                if axes.contains(where: { mayBeBatch($0, rank(input)) }) { return false }
            case .softmax(let axis, _):
                if mayBeBatch(axis, rank(input)) { return false }
            case .concat(let axis):
                if mayBeBatch(axis, rank(n.output)) { return false }
            case .reshape(.flatten(let axis)):
                if axis == 0 || mayBeBatch(axis, rank(input)) { return false }
            case .reshape(.reshape(let target, let allowZero)):
                guard let first = target.first, first == ShapeOps.batchMarker || (first == 0 && !allowZero) else { return false }
            case .reshape(.squeeze(let axes)):
                if axes.isEmpty || axes.contains(where: { mayBeBatch($0, rank(input)) }) { return false }
            case .reshape(.unsqueeze(let axes)):
                if axes.contains(where: { mayBeBatch($0, rank(n.output)) }) { return false }
            case .gemm(_, _, let transA, _):
                if transA || n.inputs.count < 2 || constants[n.inputs[1]] == nil { return false }
                if n.inputs.count > 2, batchShapedConstant(n.inputs[2], outRank: 2) { return false }
            case .matMul:
                if n.inputs.count < 2 || constants[n.inputs[1]] == nil || constants[input] != nil { return false }
            case .pointwise:
                continue
            case .power(let e):
                if e.rank >= 2, (e.shape.first ?? 1) != 1, rank(n.output).map({ e.rank >= $0 }) ?? true { return false }
            case .rearrange(let r):
                guard let s = shapes[input] else { return false }
                if r.touchesAxis0(rank: s.count + 1, extent0: Int.max) { return false }
            case .layerNormalization(let ln):
                if mayBeBatch(ln.axis, rank(input)) { return false }
            }
        }
        return true
    }

    /// Contiguous sub-batches of `count` samples, one per thread, or nil when the batch should
    /// run whole (one thread, fewer than 2 samples, or a graph that mixes samples).
    func subBatches(_ count: Int) -> [Range<Int>]? {
        guard threads > 1, count >= 2, batchSeparable else { return nil }
        let parts = min(threads, count)
        return (0..<parts).map { w in (count * w / parts)..<(count * (w + 1) / parts) }
    }

    /// Runs `body` on each sub-batch concurrently with a single-threaded copy of the model (and
    /// single-threaded OpenBLAS); returns the results in batch order.
    func onSubBatches<T: Sendable>(_ parts: [Range<Int>], _ body: @Sendable (Model, Range<Int>) throws -> T) throws -> [T] {
        var serial = self
        serial.threads = 1
        let worker = serial
        BLASThreads.use(1)
        defer { BLASThreads.use(threads) }
        return try Parallel.map(parts.count) { try body(worker, parts[$0]) }
    }
}
