import COpenBLAS
import Core

/// SRD relevance propagation of a batch of PFVs of one image down to the input (METHOD §2).
///
/// Relevance arrays are position-major: `[H·W, P]` for P PFVs, so that sharing one output
/// position's relevance is a length-P axpy. Sharing ratios depend on the image only; they are
/// computed once per layer for the positions that carry relevance and used for all P PFVs.
struct SRDPropagation {
    let plan: SRDPlan
    /// Per-image values (batch of one) of every tensor the plan reads, by name.
    let values: [String: Tensor]
    let input: String
    let p: Int
    /// Conv sharing numerators computed by the SRD forward, by conv output name.
    let numerators: [String: ConvTapNumerators]

    private var relevance = [String: [Float]]()
    private var density = [String: [Float]]()
    private(set) var mass = [String: [Float]]()
    private(set) var dropped: [Float]

    init(plan: SRDPlan, values: [String: Tensor], input: String, pfvs: Int, numerators: [String: ConvTapNumerators] = [:]) {
        self.plan = plan
        self.numerators = numerators
        self.values = values
        self.input = input
        p = pfvs
        dropped = [Float](repeating: 0, count: pfvs)
    }

    /// Channel, height, width of a per-image tensor.
    private func chw(_ name: String) throws -> (Int, Int, Int, [Float]) {
        guard let t = values[name], t.rank == 4, t.shape[0] == 1 else {
            throw PFVError.shapeMismatch("SRD needs '\(name)' as [1, C, H, W], got \(values[name]?.shape ?? [])")
        }
        return (t.shape[1], t.shape[2], t.shape[3], t.data)
    }

    /// Runs the propagation from `start` (`[H·W, P]` relevance at `layer`); returns the input's
    /// relevance `[H_in·W_in, P]`.
    mutating func run(layer: String, start: [Float]) throws -> [Float] {
        relevance[layer] = start
        for step in plan.steps.reversed() {
            try apply(step)
        }
        let (_, h, w, _) = try chw(input)
        let r = relevance[input] ?? [Float](repeating: 0, count: h * w * p)
        record(input, r)
        return r
    }

    private mutating func record(_ name: String, _ r: [Float]) {
        var m = [Float](repeating: 0, count: p)
        let n = r.count / max(1, p)
        for j in 0..<n { for q in 0..<p { m[q] += r[j * p + q] } }
        mass[name] = m
    }

    private mutating func accumulate(_ name: String, _ add: [Float]) {
        if var r = relevance.removeValue(forKey: name) {
            cblas_saxpy(Int32(add.count), 1, add, 1, &r, 1)
            relevance[name] = r
        } else {
            relevance[name] = add
        }
    }

    /// Adds `share[i] · from[rows[i], :]` to `to[cols[i], :]` for every pair (rows: output positions).
    private func scatter(_ from: [Float], rows: [Int], cols: [Int], shares: [Float], into to: inout [Float]) {
        from.withUnsafeBufferPointer { f in
            to.withUnsafeMutableBufferPointer { t in
                for i in 0..<rows.count where cols[i] >= 0 && shares[i] != 0 {
                    cblas_saxpy(Int32(p), shares[i], f.baseAddress! + rows[i] * p, 1, t.baseAddress! + cols[i] * p, 1)
                }
            }
        }
    }

    /// Output positions with any non-zero relevance.
    private func active(_ r: [Float], positions: Int) -> [Int] {
        (0..<positions).filter { j in (0..<p).contains { r[j * p + $0] != 0 } }
    }

    /// ⟨a_j, b_j⟩ over channels for each position j (both `[C, HW]`).
    private func pointDots(_ a: [Float], _ b: [Float], channels c: Int, positions n: Int) -> [Float] {
        var d = [Float](repeating: 0, count: n)
        for ch in 0..<c {
            let base = ch * n
            for j in 0..<n { d[j] += a[base + j] * b[base + j] }
        }
        return d
    }

    private mutating func apply(_ step: SRDStep) throws {
        let out = step.output
        switch step.rule {
        case .passThrough, .gate:
            guard let r = relevance.removeValue(forKey: out) else { return }
            record(out, r)
            accumulate(step.inputs[0], r)
        case .conv, .affine, .add:
            try applyLinear(step)
        case .maxPool, .averagePool, .globalAverage:
            guard let r = relevance.removeValue(forKey: out) else { return }
            record(out, r)
            try applyPool(step, r)
        case .concat:
            guard let r = relevance.removeValue(forKey: out) else { return }
            record(out, r)
            let (_, h, w, y) = try chw(out)
            let n = h * w
            let (cy, _, _, _) = try chw(out)
            let yy = pointDots(y, y, channels: cy, positions: n)
            for x in step.inputs {
                let (cx, _, _, xv) = try chw(x)
                let xx = pointDots(xv, xv, channels: cx, positions: n)
                let shares = (0..<n).map { yy[$0] > 0 ? xx[$0] / yy[$0] : 0 }
                var add = [Float](repeating: 0, count: n * p)
                scatter(r, rows: Array(0..<n), cols: Array(0..<n), shares: shares, into: &add)
                accumulate(x, add)
            }
            dropZeroReference(r, yy)
        }
    }

    /// Relevance lost where the reference norm is zero.
    private mutating func dropZeroReference(_ r: [Float], _ norms: [Float]) {
        for j in 0..<norms.count where norms[j] <= 0 {
            for q in 0..<p { dropped[q] += abs(r[j * p + q]) }
        }
    }

    /// Conv / BN / Add: contributor k of output PFV j gets D_j·⟨c_k + b_k, z_j⟩ with
    /// D_j = R_j / ‖z_j‖² of the group's root z.
    private mutating func applyLinear(_ step: SRDStep) throws {
        let out = step.output
        let rootName: String
        let d: [Float]
        if let root = plan.groupRoot[out] {
            guard let dd = density[root] else { return }
            rootName = root
            d = dd
        } else {
            guard let r = relevance.removeValue(forKey: out) else { return }
            record(out, r)
            let (c, h, w, z) = try chw(out)
            let zz = pointDots(z, z, channels: c, positions: h * w)
            var dd = r
            for j in 0..<(h * w) {
                let s: Float = zz[j] > 0 ? 1 / zz[j] : 0
                for q in 0..<p { dd[j * p + q] *= s }
            }
            dropZeroReference(r, zz)
            density[out] = dd
            rootName = out
            d = dd
        }
        let (cz, h, w, z) = try chw(rootName)
        let n = h * w
        switch step.rule {
        case .conv(let conv):
            let x = step.inputs[0]
            let (cx, hi, wi, xv) = try chw(x)
            let rows = active(d, positions: n)
            let (cols, shares) = try SRDConvShares.compute(conv: conv, x: xv, channels: cx, height: hi, width: wi,
                                                          z: z, zChannels: cz, outH: h, outW: w, active: rows,
                                                          numerators: numerators[step.output])
            let taps = cols.count / max(1, rows.count)
            var expanded = [Int]()
            expanded.reserveCapacity(cols.count)
            for _ in 0..<taps { expanded.append(contentsOf: rows) }
            var add = relevance.removeValue(forKey: x) ?? [Float](repeating: 0, count: hi * wi * p)
            scatter(d, rows: expanded, cols: cols, shares: shares, into: &add)
            relevance[x] = add
        case .affine:
            let (_, _, _, y) = try chw(out)
            let shares = pointDots(y, z, channels: cz, positions: n)
            var add = [Float](repeating: 0, count: n * p)
            scatter(d, rows: Array(0..<n), cols: Array(0..<n), shares: shares, into: &add)
            accumulate(step.inputs[0], add)
        case .add:
            for x in step.inputs where plan.groupRoot[x] == nil {
                // One dependent operand: the constant one is a bias and goes with it (whole output).
                let source = step.inputs.count == 1 ? out : x
                let (_, _, _, xv) = try chw(source)
                let shares = pointDots(xv, z, channels: cz, positions: n)
                var add = [Float](repeating: 0, count: n * p)
                scatter(d, rows: Array(0..<n), cols: Array(0..<n), shares: shares, into: &add)
                accumulate(x, add)
            }
        default:
            break
        }
    }

    /// Max / average / global-average pooling, with the pool's own output as reference.
    private mutating func applyPool(_ step: SRDStep, _ r: [Float]) throws {
        let x = step.inputs[0]
        let (c, hi, wi, xv) = try chw(x)
        let (_, ho, wo, y) = try chw(step.output)
        let nIn = hi * wi, nOut = ho * wo
        var rows = [Int](), cols = [Int](), shares = [Float]()
        var unshared = [Float](repeating: 1, count: nOut)
        let outRows = active(r, positions: nOut)
        switch step.rule {
        case .globalAverage:
            // Output 1×1: contributor k gets ⟨x_k, y⟩ / Σ_k ⟨x_k, y⟩.
            var dots = [Float](repeating: 0, count: nIn)
            for ch in 0..<c { for k in 0..<nIn { dots[k] += xv[ch * nIn + k] * y[ch] } }
            let total = dots.reduce(0, +)
            for k in 0..<nIn {
                rows.append(0); cols.append(k); shares.append(total != 0 ? dots[k] / total : 0)
            }
            unshared[0] = total != 0 ? 1 : 0
        case .maxPool(let win), .averagePool(let win):
            let isMax: Bool
            if case .maxPool = step.rule { isMax = true } else { isMax = false }
            let rw = win.resolve(h: hi, w: wi)
            guard rw.outH == ho, rw.outW == wo else {
                throw PFVError.shapeMismatch("pool '\(step.node)': window gives \(rw.outH)×\(rw.outW), output is \(ho)×\(wo)")
            }
            let taps = win.kernelH * win.kernelW
            for j in outRows {
                let oh = j / wo, ow = j % wo
                var idx = [Int](repeating: -1, count: taps)
                for t in 0..<taps {
                    let ih = oh * win.strideH - rw.padTop + (t / win.kernelW) * win.dilationH
                    let iw = ow * win.strideW - rw.padLeft + (t % win.kernelW) * win.dilationW
                    if ih >= 0 && ih < hi && iw >= 0 && iw < wi { idx[t] = ih * wi + iw }
                }
                var sh = [Float](repeating: 0, count: taps)
                for ch in 0..<c {
                    let base = ch * nIn, yv = y[ch * nOut + j]
                    if isMax {
                        // Argmax routing: the first maximal in-window value takes the channel.
                        var best = -1
                        for t in 0..<taps where idx[t] >= 0 && (best < 0 || xv[base + idx[t]] > xv[base + idx[best]]) { best = t }
                        if best >= 0 { sh[best] += xv[base + idx[best]] * yv }
                    } else {
                        for t in 0..<taps where idx[t] >= 0 { sh[t] += xv[base + idx[t]] * yv }
                    }
                }
                let total = sh.reduce(0, +)
                unshared[j] = total != 0 ? 1 : 0
                for t in 0..<taps where idx[t] >= 0 {
                    rows.append(j); cols.append(idx[t]); shares.append(total != 0 ? sh[t] / total : 0)
                }
            }
        default:
            return
        }
        var add = [Float](repeating: 0, count: nIn * p)
        scatter(r, rows: rows, cols: cols, shares: shares, into: &add)
        accumulate(x, add)
        for j in outRows where unshared[j] == 0 { for q in 0..<p { dropped[q] += abs(r[j * p + q]) } }
    }
}
