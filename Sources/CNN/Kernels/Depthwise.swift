import Core

/// Depthwise convolutions (groups = input channels = output channels, as in MobileNet and
/// EfficientNet) computed directly, forward and input-VJP, on NCHW Float32.
///
/// im2col + GEMM is a poor fit here: every group is a `[1, kH·kW] × [kH·kW, P]` product, so the
/// GEMM call and the im2col copy cost more than the 9 multiply-adds per output. Instead each
/// kernel tap adds `w · (shifted input row)` to the output row — contiguous, vectorisable loops
/// at stride 1 — with the same `PatchRow` ranges as im2col, so padding is handled identically.
/// Planes (image × channel) are split over `threads` workers.
enum Depthwise {
    /// True for the geometries this kernel computes: one input and one output channel per group.
    static func accepts(_ g: Convolution.Geometry) -> Bool { g.cg == 1 && g.mg == 1 && g.groups == g.c }

    /// `[N, C, oH, oW]` from `[N, C, H, W]`: bias (if any), taps, then ReLU when `fuseRelu`.
    static func forward(_ conv: Conv2D, bias: [Float]?, _ x: Tensor, _ g: Convolution.Geometry,
                        threads: Int, fuseRelu: Bool) -> Tensor {
        let n = x.shape[0], planes = n * g.c, taps = g.kh * g.kw
        let rows = tapRows(g)
        // Every element is written: the bias / zero fill comes first in each plane.
        var out = [Float](unsafeUninitializedCapacity: planes * g.p) { _, count in count = planes * g.p }
        x.data.withUnsafeBufferPointer { xs in
            conv.weight.data.withUnsafeBufferPointer { ws in
                out.withUnsafeMutableBufferPointer { os in
                    let xp = SharedConstPointer(xs.baseAddress!), wp = SharedConstPointer(ws.baseAddress!)
                    let op = SharedPointer(os.baseAddress!)
                    Parallel.chunks(planes, threads: threads) { range, _ in
                        for plane in range {
                            let ch = plane % g.c
                            let src = xp.base + plane * g.h * g.w, dst = op.base + plane * g.p
                            dst.update(repeating: bias?[ch] ?? 0, count: g.p)
                            for (tap, t) in rows.enumerated() {
                                let wv = wp.base[ch * taps + tap]
                                let lo = t.columns.lowerBound, count = t.columns.count
                                for oh in t.rows {
                                    let line = src + (oh * g.sh + t.offH) * g.w + t.offW
                                    let row = dst + oh * g.ow
                                    if g.sw == 1 {
                                        axpy(wv, line + lo, row + lo, count: count)
                                    } else {
                                        for ow in t.columns { row[ow] += wv * line[ow * g.sw] }
                                    }
                                }
                            }
                            if fuseRelu {
                                for j in 0..<g.p where dst[j] < 0 { dst[j] = 0 }
                            }
                        }
                    }
                }
            }
        }
        return Tensor(uncheckedShape: [n, g.c, g.oh, g.ow], data: out)
    }

    /// Input VJP: `[S, C, H, W]` from cotangents `[S, C, oH, oW]`, any stride: each tap adds
    /// `w · (cotangent row)` into the input positions it read (the adjoint of `forward`'s loop).
    static func backward(_ conv: Conv2D, grad: Tensor, samples: Int, _ g: Convolution.Geometry, threads: Int) -> Tensor {
        let planes = samples * g.c, taps = g.kh * g.kw
        let rows = tapRows(g)
        var out = [Float](repeating: 0, count: planes * g.h * g.w)
        grad.data.withUnsafeBufferPointer { gs in
            conv.weight.data.withUnsafeBufferPointer { ws in
                out.withUnsafeMutableBufferPointer { os in
                    let gp = SharedConstPointer(gs.baseAddress!), wp = SharedConstPointer(ws.baseAddress!)
                    let op = SharedPointer(os.baseAddress!)
                    Parallel.chunks(planes, threads: threads) { range, _ in
                        for plane in range {
                            let ch = plane % g.c
                            let dy = gp.base + plane * g.p, dx = op.base + plane * g.h * g.w
                            for (tap, t) in rows.enumerated() {
                                let wv = wp.base[ch * taps + tap]
                                let lo = t.columns.lowerBound, count = t.columns.count
                                for oh in t.rows {
                                    let line = dx + (oh * g.sh + t.offH) * g.w + t.offW
                                    let row = UnsafePointer(dy + oh * g.ow)
                                    if g.sw == 1 {
                                        axpy(wv, row + lo, line + lo, count: count)
                                    } else {
                                        for ow in t.columns { line[ow * g.sw] += wv * row[ow] }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return Tensor(uncheckedShape: [samples, g.c, g.h, g.w], data: out)
    }

    /// The kernel taps of one channel in weight order (ki, kj), with the output rows and columns
    /// for which each reads inside the image (the patch rows of a one-channel im2col).
    static func tapRows(_ g: Convolution.Geometry) -> [Convolution.PatchRow] {
        var rows: [Convolution.PatchRow] = []
        rows.reserveCapacity(g.kh * g.kw)
        Convolution.forEachPatchRow(g) { _, t in rows.append(t) }
        return rows
    }

    /// `y[i] += a · x[i]` for `i < count`, eight lanes at a time (the compiler cannot prove the
    /// pointers disjoint, so a plain loop stays scalar).
    @inline(__always)
    static func axpy(_ a: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
        let xs = UnsafeRawPointer(x), ys = UnsafeMutableRawPointer(y)
        let av = SIMD8<Float>(repeating: a)
        var i = 0
        while i + 8 <= count {
            let sum = ys.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
                + av * xs.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
            ys.storeBytes(of: sum, toByteOffset: i * 4, as: SIMD8<Float>.self)
            i += 8
        }
        while i < count { y[i] += a * x[i]; i += 1 }
    }
}
