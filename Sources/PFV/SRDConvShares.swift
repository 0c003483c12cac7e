import COpenBLAS

/// SRD sharing numerators of a convolution: for output PFV j and kernel tap t reading input PFV k,
/// ⟨c_{k→j} + b_k, z_j⟩ with c_{k→j} = W_t x_k and the bias split b_k = b·‖c_{k→j}‖ / Σ_t ‖c_{t→j}‖.
///
/// One GEMM per tap (and group): C_t = W_t · X_t, where X_t holds the input PFVs under tap t for
/// the `active` output positions. Where every contribution is zero but there is a bias, the bias
/// is split equally among the taps that fall inside the input.
enum SRDConvShares {
    /// - Parameters: `x` the conv input `[C, H, W]`, `z` the reference `[M, outH, outW]`,
    ///   `active` the output positions to compute.
    /// - Returns: tap-major arrays of length taps·active.count: the input position each
    ///   (tap, position) reads (−1 in the padding) and its numerator ⟨c + b_k, z_j⟩.
    static func compute(conv: Conv2D, x: [Float], channels cin: Int, height hi: Int, width wi: Int,
                        z: [Float], zChannels: Int, outH ho: Int, outW wo: Int,
                        active: [Int]) throws -> (cols: [Int], shares: [Float]) {
        let win = conv.window
        let m = conv.outChannels, g = conv.groups, cg = conv.inChannelsPerGroup
        guard zChannels == m, cin == cg * g, m % g == 0 else {
            throw CNNError.shapeMismatch("SRD conv: weight \(conv.weight.shape), groups \(g), input channels \(cin), reference channels \(zChannels)")
        }
        let rw = win.resolve(h: hi, w: wi)
        guard rw.outH == ho, rw.outW == wo else {
            throw CNNError.shapeMismatch("SRD conv: window gives \(rw.outH)×\(rw.outW), reference is \(ho)×\(wo)")
        }
        let mg = m / g, taps = win.kernelH * win.kernelW, a = active.count, nIn = hi * wi, nOut = ho * wo
        if a == 0 { return ([], []) }
        // Reference columns and bias term ⟨b, z_j⟩.
        var zc = [Float](repeating: 0, count: m * a)
        for o in 0..<m { for (i, j) in active.enumerated() { zc[o * a + i] = z[o * nOut + j] } }
        var bz = [Float](repeating: 0, count: a)
        if let b = conv.bias { for o in 0..<m { for i in 0..<a { bz[i] += b[o] * zc[o * a + i] } } }

        var cols = [Int](repeating: -1, count: taps * a)
        var dots = [Float](repeating: 0, count: taps * a)
        var norms = [Float](repeating: 0, count: taps * a)
        var xt = [Float](repeating: 0, count: cin * a)
        var wt = [Float](repeating: 0, count: m * cg)
        var ct = [Float](repeating: 0, count: m * a)
        for t in 0..<taps {
            let ki = t / win.kernelW, kj = t % win.kernelW
            for (i, j) in active.enumerated() {
                let ih = (j / wo) * win.strideH - rw.padTop + ki * win.dilationH
                let iw = (j % wo) * win.strideW - rw.padLeft + kj * win.dilationW
                cols[t * a + i] = (ih >= 0 && ih < hi && iw >= 0 && iw < wi) ? ih * wi + iw : -1
            }
            for ch in 0..<cin {
                for i in 0..<a {
                    let k = cols[t * a + i]
                    xt[ch * a + i] = k >= 0 ? x[ch * nIn + k] : 0
                }
            }
            for o in 0..<m { for c in 0..<cg { wt[o * cg + c] = conv.weight.data[(o * cg + c) * taps + t] } }
            for grp in 0..<g {
                wt.withUnsafeBufferPointer { wp in
                    xt.withUnsafeBufferPointer { xp in
                        ct.withUnsafeMutableBufferPointer { cp in
                            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(mg), Int32(a), Int32(cg), 1,
                                        wp.baseAddress! + grp * mg * cg, Int32(cg),
                                        xp.baseAddress! + grp * cg * a, Int32(a),
                                        0, cp.baseAddress! + grp * mg * a, Int32(a))
                        }
                    }
                }
            }
            for o in 0..<m {
                let base = o * a
                for i in 0..<a {
                    let c = ct[base + i]
                    dots[t * a + i] += c * zc[base + i]
                    norms[t * a + i] += c * c
                }
            }
        }
        for i in 0..<(taps * a) { norms[i] = norms[i].squareRoot() }
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
}
