import CNN
import COpenBLAS
import Core

/// SRD sharing numerators of a convolution: for output PFV j and kernel tap t reading input PFV k,
/// ⟨c_{k→j} + b_k, z_j⟩ with c_{k→j} = W_t x_k and the bias split b_k = b·‖c_{k→j}‖ / Σ_t ‖c_{t→j}‖.
///
/// One GEMM per tap (and group): C_t = W_t · X_t, where X_t holds the input PFVs under tap t for
/// the `active` output positions. Where every contribution is zero but there is a bias, the bias
/// is split equally among the taps that fall inside the input.
enum SRDConvShares {
    /// - Parameters: `x` the conv input `[C, H, W]`, `z` the reference `[M, outH, outW]`,
    ///   `active` the output positions to compute, `numerators` the ones the SRD forward computed
    ///   for every position (then no GEMM is needed here).
    /// - Returns: tap-major arrays of length taps·active.count: the input position each
    ///   (tap, position) reads (−1 in the padding) and its numerator ⟨c + b_k, z_j⟩.
    static func compute(conv: Conv2D, x: [Float], channels cin: Int, height hi: Int, width wi: Int,
                        z: [Float], zChannels: Int, outH ho: Int, outW wo: Int,
                        active: [Int], numerators: ConvTapNumerators? = nil) throws -> (cols: [Int], shares: [Float]) {
        let win = conv.window
        let m = conv.outChannels, g = conv.groups, cg = conv.inChannelsPerGroup
        guard zChannels == m, cin == cg * g, m % g == 0 else {
            throw PFVError.shapeMismatch("SRD conv: weight \(conv.weight.shape), groups \(g), input channels \(cin), reference channels \(zChannels)")
        }
        let rw = win.resolve(h: hi, w: wi)
        guard rw.outH == ho, rw.outW == wo else {
            throw PFVError.shapeMismatch("SRD conv: window gives \(rw.outH)×\(rw.outW), reference is \(ho)×\(wo)")
        }
        let mg = m / g, taps = win.kernelH * win.kernelW, a = active.count, nIn = hi * wi, nOut = ho * wo
        if a == 0 { return ([], []) }
        if let numerators, numerators.taps != taps || numerators.positions != nOut {
            throw PFVError.shapeMismatch("SRD conv: numerators for \(numerators.taps) taps × \(numerators.positions) positions, conv has \(taps) × \(nOut)")
        }
        // Reference columns and bias term ⟨b, z_j⟩.
        var zc = [Float](repeating: 0, count: m * a)
        for o in 0..<m { for (i, j) in active.enumerated() { zc[o * a + i] = z[o * nOut + j] } }
        var bz = [Float](repeating: 0, count: a)
        if let b = conv.bias { for o in 0..<m { for i in 0..<a { bz[i] += b[o] * zc[o * a + i] } } }

        var cols = [Int](repeating: -1, count: taps * a)
        for t in 0..<taps {
            let ki = t / win.kernelW, kj = t % win.kernelW
            for (i, j) in active.enumerated() {
                let ih = (j / wo) * win.strideH - rw.padTop + ki * win.dilationH
                let iw = (j % wo) * win.strideW - rw.padLeft + kj * win.dilationW
                cols[t * a + i] = (ih >= 0 && ih < hi && iw >= 0 && iw < wi) ? ih * wi + iw : -1
            }
        }
        var dots = [Float](repeating: 0, count: taps * a)
        var norms = [Float](repeating: 0, count: taps * a)
        let geometry = Geometry(m: m, groups: g, cg: cg, mg: mg, taps: taps, a: a, nIn: nIn)
        x.withUnsafeBufferPointer { xp in
            zc.withUnsafeBufferPointer { zp in
                conv.weight.data.withUnsafeBufferPointer { wp in
                    cols.withUnsafeBufferPointer { cp in
                        dots.withUnsafeMutableBufferPointer { dp in
                            norms.withUnsafeMutableBufferPointer { np in
                                let io = Pointers(x: xp.baseAddress!, z: zp.baseAddress!, w: wp.baseAddress!,
                                                  cols: cp.baseAddress!, dots: dp.baseAddress!, norms: np.baseAddress!)
                                // Few input channels per group (a stem): transpose the products
                                // so the per-position loops run over input channels, not outputs.
                                if let numerators {
                                    numerators.select(active, dots: io.dots, norms: io.norms)
                                } else if cg * 4 <= mg {
                                    byGram(geometry, io)
                                } else {
                                    byContributions(geometry, io)
                                }
                            }
                        }
                    }
                }
            }
        }
        for i in 0..<(taps * a) { norms[i] = max(norms[i], 0).squareRoot() }
        var shares = dots
        for i in 0..<a {
            var total: Float = 0, inside = 0
            for t in 0..<taps {
                total += norms[t * a + i]
                if cols[t * a + i] >= 0 { inside += 1 }
            }
            for t in 0..<taps where cols[t * a + i] >= 0 {
                let part = total > 0 ? norms[t * a + i] / total : 1 / Float(inside)
                shares[t * a + i] += part * bz[i]
            }
        }
        return (cols, shares)
    }

    struct Geometry {
        let m: Int, groups: Int, cg: Int, mg: Int, taps: Int, a: Int, nIn: Int
    }

    struct Pointers {
        let x: UnsafePointer<Float>, z: UnsafePointer<Float>, w: UnsafePointer<Float>
        let cols: UnsafePointer<Int>
        let dots: UnsafeMutablePointer<Float>, norms: UnsafeMutablePointer<Float>
    }

    /// Input PFVs under tap `t` for the active positions, channels `c0..<c0+count`: `[count, a]`.
    static func gather(_ g: Geometry, _ io: Pointers, tap t: Int, channels c0: Int, count: Int, into xt: UnsafeMutablePointer<Float>) {
        let cols = io.cols + t * g.a
        for c in 0..<count {
            let src = io.x + (c0 + c) * g.nIn, dst = xt + c * g.a
            for i in 0..<g.a {
                let k = cols[i]
                dst[i] = k >= 0 ? src[k] : 0
            }
        }
    }

    /// c_t = W_t X_t per tap (GEMM), then ⟨c_t, z⟩ and ‖c_t‖² per position.
    static func byContributions(_ g: Geometry, _ io: Pointers) {
        let xt = UnsafeMutablePointer<Float>.allocate(capacity: g.cg * g.groups * g.a)
        let wt = UnsafeMutablePointer<Float>.allocate(capacity: g.m * g.cg)
        let ct = UnsafeMutablePointer<Float>.allocate(capacity: g.m * g.a)
        defer { xt.deallocate(); wt.deallocate(); ct.deallocate() }
        for t in 0..<g.taps {
            gather(g, io, tap: t, channels: 0, count: g.cg * g.groups, into: xt)
            for o in 0..<g.m { for c in 0..<g.cg { wt[o * g.cg + c] = io.w[(o * g.cg + c) * g.taps + t] } }
            for grp in 0..<g.groups {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(g.mg), Int32(g.a), Int32(g.cg), 1,
                            wt + grp * g.mg * g.cg, Int32(g.cg), xt + grp * g.cg * g.a, Int32(g.a),
                            0, ct + grp * g.mg * g.a, Int32(g.a))
            }
            let d = io.dots + t * g.a, n = io.norms + t * g.a
            for o in 0..<g.m {
                let row = ct + o * g.a, zr = io.z + o * g.a
                for i in 0..<g.a {
                    d[i] += row[i] * zr[i]
                    n[i] += row[i] * row[i]
                }
            }
        }
    }

    /// ⟨W_t x_k, z_j⟩ = ⟨x_k, (Wᵀz_j)_t⟩ from one GEMM Wᵀ Z over all taps, and
    /// ‖W_t x_k‖² = x_kᵀ (W_tᵀ W_t) x_k from each tap's Gram matrix.
    static func byGram(_ g: Geometry, _ io: Pointers) {
        let rows = g.cg * g.taps
        let gz = UnsafeMutablePointer<Float>.allocate(capacity: rows * g.a)
        let xt = UnsafeMutablePointer<Float>.allocate(capacity: g.cg * g.a)
        let wt = UnsafeMutablePointer<Float>.allocate(capacity: g.mg * g.cg)
        let gram = UnsafeMutablePointer<Float>.allocate(capacity: g.cg * g.cg)
        let q = UnsafeMutablePointer<Float>.allocate(capacity: g.cg * g.a)
        defer { gz.deallocate(); xt.deallocate(); wt.deallocate(); gram.deallocate(); q.deallocate() }
        for grp in 0..<g.groups {
            let wg = io.w + grp * g.mg * rows
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(rows), Int32(g.a), Int32(g.mg), 1,
                        wg, Int32(rows), io.z + grp * g.mg * g.a, Int32(g.a), 0, gz, Int32(g.a))
            for t in 0..<g.taps {
                gather(g, io, tap: t, channels: grp * g.cg, count: g.cg, into: xt)
                let d = io.dots + t * g.a, n = io.norms + t * g.a
                for c in 0..<g.cg {
                    let gr = gz + (c * g.taps + t) * g.a, xr = xt + c * g.a
                    for i in 0..<g.a { d[i] += gr[i] * xr[i] }
                }
                for o in 0..<g.mg { for c in 0..<g.cg { wt[o * g.cg + c] = wg[(o * g.cg + c) * g.taps + t] } }
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(g.cg), Int32(g.cg), Int32(g.mg), 1,
                            wt, Int32(g.cg), wt, Int32(g.cg), 0, gram, Int32(g.cg))
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(g.cg), Int32(g.a), Int32(g.cg), 1,
                            gram, Int32(g.cg), xt, Int32(g.a), 0, q, Int32(g.a))
                for c in 0..<g.cg {
                    let qr = q + c * g.a, xr = xt + c * g.a
                    for i in 0..<g.a { n[i] += qr[i] * xr[i] }
                }
            }
        }
    }
}
