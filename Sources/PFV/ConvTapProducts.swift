import CNN
import COpenBLAS
import Core

/// The per-tap contributions of an ungrouped stride-1 convolution on one image, kept by the SRD
/// forward pass: U[t·M + o, k] = (W_t x_k)_o for every tap t and input position k, from one GEMM
/// (stacked weights `[taps·M, C]` × input `[C, H·W]`). The conv output is their shifted sum plus
/// the bias, and the SRD sharing numerators ⟨c_{k→j}, z_j⟩, ‖c_{k→j}‖² are read from them
/// (`numerators`), so the iERF needs no second GEMM pass over this conv.
struct ConvTapProducts: Sendable {
    let conv: Conv2D
    /// `[taps·M, inH·inW]`, tap-major.
    let products: [Float]
    let inH: Int, inW: Int, outH: Int, outW: Int
    let padTop: Int, padLeft: Int

    /// Convs this applies to: one group, stride 1, and not a stem with few input channels (those
    /// are cheaper through Gram matrices, `SRDConvShares.byGram`).
    static func applies(to conv: Conv2D) -> Bool {
        let w = conv.window
        return conv.groups == 1 && w.strideH == 1 && w.strideW == 1 && conv.inChannelsPerGroup * 4 > conv.outChannels
    }

    /// The weights reordered to `[taps·M, C]` (row t·M + o is W[o, :, t]), computed once per plan.
    static func stackedWeights(_ conv: Conv2D) -> [Float] {
        let m = conv.outChannels, c = conv.inChannelsPerGroup, taps = conv.window.kernelH * conv.window.kernelW
        var s = [Float](repeating: 0, count: taps * m * c)
        for o in 0..<m { for ch in 0..<c { for t in 0..<taps { s[(t * m + o) * c + ch] = conv.weight.data[(o * c + ch) * taps + t] } } }
        return s
    }

    /// Computes U for `x` (`[1, C, H, W]`) with `stacked` = `stackedWeights(conv)`.
    init(conv: Conv2D, stacked: [Float], x: Tensor) throws {
        let m = conv.outChannels, c = conv.inChannelsPerGroup, taps = conv.window.kernelH * conv.window.kernelW
        guard x.rank == 4, x.shape[0] == 1, x.shape[1] == c, stacked.count == taps * m * c else {
            throw PFVError.shapeMismatch("SRD conv: input \(x.shape) for weight \(conv.weight.shape)")
        }
        let (h, w) = (x.shape[2], x.shape[3])
        let rw = conv.window.resolve(h: h, w: w)
        // β = 0: the GEMM writes every element, so the array is not zero-filled first.
        let u = [Float](unsafeUninitializedCapacity: taps * m * h * w) { buffer, count in
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(taps * m), Int32(h * w), Int32(c), 1,
                        stacked, Int32(c), x.data, Int32(h * w), 0, buffer.baseAddress, Int32(h * w))
            count = taps * m * h * w
        }
        self.conv = conv
        products = u
        inH = h; inW = w; outH = rw.outH; outW = rw.outW
        padTop = rw.padTop; padLeft = rw.padLeft
    }

    var taps: Int { conv.window.kernelH * conv.window.kernelW }

    /// Input offset (rows, columns) of tap `t`.
    private func offset(_ t: Int) -> (Int, Int) {
        let win = conv.window
        return ((t / win.kernelW) * win.dilationH - padTop, (t % win.kernelW) * win.dilationW - padLeft)
    }

    /// The conv output `[1, M, outH, outW]`: bias + Σ_t U_t shifted to the output grid.
    func output() -> Tensor {
        let m = conv.outChannels, nIn = inH * inW, nOut = outH * outW
        var y = [Float](repeating: 0, count: m * nOut)
        y.withUnsafeMutableBufferPointer { yp in
            products.withUnsafeBufferPointer { up in
                if let b = conv.bias { for o in 0..<m { (yp.baseAddress! + o * nOut).update(repeating: b[o], count: nOut) } }
                for t in 0..<taps {
                    let (offH, offW) = offset(t)
                    let lo = max(0, -offW), hi = min(outW, inW - offW)
                    guard lo < hi else { continue }
                    for o in 0..<m {
                        let src = up.baseAddress! + (t * m + o) * nIn, dst = yp.baseAddress! + o * nOut
                        for oh in 0..<outH {
                            let ih = oh + offH
                            guard ih >= 0, ih < inH else { continue }
                            let s = src + ih * inW + offW, d = dst + oh * outW
                            for ow in lo..<hi { d[ow] += s[ow] }
                        }
                    }
                }
            }
        }
        return Tensor(uncheckedShape: [1, m, outH, outW], data: y)
    }

    /// The SRD numerators of every (tap, output position) against the reference `z` (the conv's
    /// group root, `[1, M, outH, outW]`): ⟨c_t, z_j⟩ and ‖c_t‖². Computed as soon as the forward
    /// pass reaches z, so the products themselves need not outlive it.
    func numerators(z: Tensor) throws -> ConvTapNumerators {
        let m = conv.outChannels, nOut = outH * outW
        guard z.count == m * nOut else {
            throw PFVError.shapeMismatch("SRD conv: reference \(z.shape) for \(m) channels of \(outH)×\(outW)")
        }
        var dots = [Float](repeating: 0, count: taps * nOut)
        var norms = [Float](repeating: 0, count: taps * nOut)
        z.data.withUnsafeBufferPointer { zp in
            dots.withUnsafeMutableBufferPointer { dp in
                norms.withUnsafeMutableBufferPointer { np in
                    accumulateDense(z: zp.baseAddress!, dots: dp.baseAddress!, norms: np.baseAddress!)
                }
            }
        }
        return ConvTapNumerators(taps: taps, positions: nOut, dots: dots, norms: norms)
    }

    /// Adds ⟨c_t, z⟩ and ‖c_t‖² for every output position to `dots` / `norms` (`[taps, outH·outW]`):
    /// tap t's input row for output row oh is row oh + offH shifted by offW, so each (tap, channel,
    /// row) is one contiguous loop.
    private func accumulateDense(z: UnsafePointer<Float>, dots: UnsafeMutablePointer<Float>, norms: UnsafeMutablePointer<Float>) {
        let m = conv.outChannels, nIn = inH * inW, nOut = outH * outW
        products.withUnsafeBufferPointer { up in
            for t in 0..<taps {
                let (offH, offW) = offset(t)
                let lo = max(0, -offW), hi = min(outW, inW - offW)
                guard lo < hi else { continue }
                let d = dots + t * nOut, n = norms + t * nOut
                for o in 0..<m {
                    let row = up.baseAddress! + (t * m + o) * nIn, zr = z + o * nOut
                    for oh in 0..<outH {
                        let ih = oh + offH
                        guard ih >= 0, ih < inH else { continue }
                        let src = row + ih * inW + offW, base = oh * outW
                        for ow in lo..<hi {
                            let v = src[ow]
                            d[base + ow] += v * zr[base + ow]
                            n[base + ow] += v * v
                        }
                    }
                }
            }
        }
    }
}
