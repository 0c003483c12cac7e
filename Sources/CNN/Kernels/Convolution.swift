import COpenBLAS
import Core

/// 2-D convolution as im2col + `cblas_sgemm`, forward and input-VJP, on NCHW Float32 (the forward
/// of qualifying 3×3 convs goes to `Winograd`, depthwise convs to `Depthwise`).
///
/// Images (or cotangent samples) are processed one GEMM per group; with `threads > 1` samples
/// are split over workers while OpenBLAS runs single-threaded inside each, so the total number
/// of busy threads stays `threads`.
enum Convolution {
    struct Geometry {
        let c: Int, h: Int, w: Int, m: Int, groups: Int, cg: Int, mg: Int
        let kh: Int, kw: Int, sh: Int, sw: Int, dh: Int, dw: Int
        let pt: Int, pl: Int, oh: Int, ow: Int
        var k: Int { cg * kh * kw }
        var p: Int { oh * ow }
        /// 1×1, stride 1, no padding: the input plane is already the im2col matrix.
        var isPointwise: Bool { kh == 1 && kw == 1 && sh == 1 && sw == 1 && pt == 0 && pl == 0 && oh == h && ow == w }
    }

    static func geometry(_ conv: Conv2D, inputShape s: [Int]) throws -> Geometry {
        guard s.count == 4 else {
            throw ModelError.shapeMismatch("Conv supports 2-D NCHW input only, got shape \(s)")
        }
        let g = conv.groups, m = conv.outChannels, cg = conv.inChannelsPerGroup
        guard g >= 1, s[1] == cg * g, m % g == 0 else {
            throw ModelError.shapeMismatch("Conv weight \(conv.weight.shape) with group \(g) does not fit input \(s)")
        }
        let win = conv.window
        let r = win.resolve(h: s[2], w: s[3])
        return Geometry(c: s[1], h: s[2], w: s[3], m: m, groups: g, cg: cg, mg: m / g,
                        kh: win.kernelH, kw: win.kernelW, sh: win.strideH, sw: win.strideW,
                        dh: win.dilationH, dw: win.dilationW, pt: r.padTop, pl: r.padLeft, oh: r.outH, ow: r.outW)
    }

    /// `[N, M, oH, oW]` from `[N, C, H, W]`; `fuseRelu` clamps at 0 after the bias; without
    /// `addBias` the linear part alone (the JVP of a tangent). 3×3 stride-1 convs with a Winograd
    /// filter transform run as Winograd F(2×2, 3×3), the others as im2col + GEMM.
    static func forward(_ conv: Conv2D, _ x: Tensor, threads: Int, fuseRelu: Bool = false, addBias: Bool = true) throws -> Tensor {
        let g = try geometry(conv, inputShape: x.shape)
        let bias = addBias ? conv.bias : nil
        if let u = conv.winogradFilter, Winograd.accepts(g) {
            return Winograd.forward(filter: u, bias: bias, x, g, threads: threads, fuseRelu: fuseRelu)
        }
        if Depthwise.accepts(g) { return Depthwise.forward(conv, bias: bias, x, g, threads: threads, fuseRelu: fuseRelu) }
        return im2colForward(conv, bias: bias, x, g, threads: threads, fuseRelu: fuseRelu)
    }

    /// `forward` as im2col + GEMM, for any geometry `g` of `conv` on `x`, with `bias` (or none).
    static func im2colForward(_ conv: Conv2D, bias: [Float]?, _ x: Tensor, _ g: Geometry, threads: Int, fuseRelu: Bool) -> Tensor {
        let n = x.shape[0]
        let outCount = n * g.m * g.p
        let batched = g.p < batchedPlane && n > 1
        let sub = subBatch(g)
        let colSize = batched ? (g.k + g.mg) * sub * g.p : (g.isPointwise ? 0 : g.k * g.p)
        let workers = max(1, min(threads, n))
        // Every element is written (im2col, beta-0 GEMM) before it is read.
        var workspace = [Float](unsafeUninitializedCapacity: max(1, colSize * workers)) { _, n in n = max(1, colSize * workers) }
        // Every element is written: by the bias fill or a beta-0 GEMM (per image), or the scatter.
        var out = [Float](unsafeUninitializedCapacity: outCount) { _, n in n = outCount }
        x.data.withUnsafeBufferPointer { xs in
            conv.weight.data.withUnsafeBufferPointer { ws in
                out.withUnsafeMutableBufferPointer { os in
                    workspace.withUnsafeMutableBufferPointer { cs in
                        let xp = SharedConstPointer(xs.baseAddress!), wp = SharedConstPointer(ws.baseAddress!)
                        let op = SharedPointer(os.baseAddress!), cp = SharedPointer(cs.baseAddress!)
                        if workers > 1 { BLASThreads.use(1) }
                        Parallel.chunks(n, threads: workers) { range, worker in
                            let col = cp.base + worker * colSize
                            if batched {
                                var lo = range.lowerBound
                                while lo < range.upperBound {
                                    let hi = min(range.upperBound, lo + sub)
                                    forwardBatch(lo..<hi, g, xp.base, wp.base, bias, fuseRelu, col, col + g.k * sub * g.p, op.base)
                                    lo = hi
                                }
                                return
                            }
                            for i in range {
                                let img = xp.base + i * g.c * g.h * g.w
                                let dst = op.base + i * g.m * g.p
                                if let bias {
                                    for ch in 0..<g.m {
                                        let b = bias[ch], row = dst + ch * g.p
                                        for j in 0..<g.p { row[j] = b }
                                    }
                                }
                                for grp in 0..<g.groups {
                                    let src = img + grp * g.cg * g.h * g.w
                                    let b: UnsafePointer<Float>
                                    if g.isPointwise { b = src } else { im2col(src, g, col); b = UnsafePointer(col) }
                                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans,
                                                Int32(g.mg), Int32(g.p), Int32(g.k), 1,
                                                wp.base + grp * g.mg * g.k, Int32(g.k), b, Int32(g.p),
                                                bias == nil ? 0 : 1, dst + grp * g.mg * g.p, Int32(g.p))
                                }
                                if fuseRelu {
                                    for j in 0..<(g.m * g.p) where dst[j] < 0 { dst[j] = 0 }
                                }
                            }
                        }
                        if workers > 1 { BLASThreads.use(threads) }
                    }
                }
            }
        }
        return Tensor(uncheckedShape: [n, g.m, g.oh, g.ow], data: out)
    }

    /// Input VJP: `[S, C, H, W]` from cotangents `[S, M, oH, oW]` (any number `S` of samples).
    ///
    /// Stride-1 convolutions run the forward pass of their `InputVJPConvolution` (a gather, every
    /// output element written once); the others scatter-add with col2im.
    static func backward(_ conv: Conv2D, inputShape: [Int], grad: Tensor, threads: Int) throws -> Tensor {
        var s = inputShape
        guard s.count == 4 else { throw ModelError.shapeMismatch("Conv supports 2-D NCHW input only, got shape \(s)") }
        let g = try geometry(conv, inputShape: s)
        let samples = grad.count / max(1, g.m * g.p)
        guard grad.count == samples * g.m * g.p else {
            throw ModelError.shapeMismatch("Conv cotangent \(grad.shape) does not fit output [*, \(g.m), \(g.oh), \(g.ow)]")
        }
        s[0] = samples
        if Depthwise.accepts(g) { return Depthwise.backward(conv, grad: grad, samples: samples, g, threads: threads) }
        if let vjp = conv.inputVJP, g.p > 0, samples > 0 {
            let dy = Tensor(uncheckedShape: [samples, g.m, g.oh, g.ow], data: grad.data)
            let dx = try forward(vjp.conv, dy, threads: threads)
            guard dx.shape == s else {
                throw ModelError.shapeMismatch("internal: Conv input-VJP gives \(dx.shape), expected \(s)")
            }
            return dx
        }
        let workers = max(1, min(threads, samples))
        let batched = g.p < batchedPlane && samples > 1
        let sub = subBatch(g)
        let colSize = batched ? (g.k + g.mg) * sub * g.p : (g.isPointwise ? 0 : g.k * g.p)
        // Every element is written before it is read (the gathered cotangents, beta-0 GEMMs).
        var workspace = [Float](unsafeUninitializedCapacity: max(1, colSize * workers)) { _, n in n = max(1, colSize * workers) }
        // col2im adds into it.
        var out = [Float](repeating: 0, count: samples * g.c * g.h * g.w)
        grad.data.withUnsafeBufferPointer { gs in
            conv.weight.data.withUnsafeBufferPointer { ws in
                out.withUnsafeMutableBufferPointer { os in
                    workspace.withUnsafeMutableBufferPointer { cs in
                        let gp = SharedConstPointer(gs.baseAddress!), wp = SharedConstPointer(ws.baseAddress!)
                        let op = SharedPointer(os.baseAddress!), cp = SharedPointer(cs.baseAddress!)
                        if workers > 1 { BLASThreads.use(1) }
                        Parallel.chunks(samples, threads: workers) { range, worker in
                            let col = cp.base + worker * colSize
                            if batched {
                                var lo = range.lowerBound
                                while lo < range.upperBound {
                                    let hi = min(range.upperBound, lo + sub)
                                    backwardBatch(lo..<hi, g, gp.base, wp.base, col, col + g.k * sub * g.p, op.base)
                                    lo = hi
                                }
                                return
                            }
                            for i in range {
                                let dy = gp.base + i * g.m * g.p
                                let dx = op.base + i * g.c * g.h * g.w
                                for grp in 0..<g.groups {
                                    let dst = dx + grp * g.cg * g.h * g.w
                                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans,
                                                Int32(g.k), Int32(g.p), Int32(g.mg), 1,
                                                wp.base + grp * g.mg * g.k, Int32(g.k),
                                                dy + grp * g.mg * g.p, Int32(g.p),
                                                0, g.isPointwise ? dst : col, Int32(g.p))
                                    if !g.isPointwise { col2im(col, g, dst) }
                                }
                            }
                        }
                        if workers > 1 { BLASThreads.use(threads) }
                    }
                }
            }
        }
        return Tensor(uncheckedShape: s, data: out)
    }

    /// Output planes smaller than this are computed for several images in one GEMM
    /// (`[Mg, K] × [K, B·P]`), which keeps the GEMM wide for late, low-resolution layers.
    static let batchedPlane = 1024
    /// Images per batched GEMM: enough columns for an efficient GEMM, bounded workspace.
    static func subBatch(_ g: Geometry) -> Int { max(1, 4096 / max(1, g.p)) }

    /// Forward of images `range` with one GEMM per group: patches of all images side by side in
    /// `col` `[K, B·P]`, product in `tmp` `[Mg, B·P]`, then scattered to NCHW with bias (+ReLU).
    static func forwardBatch(_ range: Range<Int>, _ g: Geometry, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                             _ bias: [Float]?, _ relu: Bool, _ col: UnsafeMutablePointer<Float>,
                             _ tmp: UnsafeMutablePointer<Float>, _ out: UnsafeMutablePointer<Float>) {
        let b = range.count, ld = b * g.p
        for grp in 0..<g.groups {
            for (bi, i) in range.enumerated() {
                im2col(x + i * g.c * g.h * g.w + grp * g.cg * g.h * g.w, g, col + bi * g.p, ld: ld)
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(g.mg), Int32(ld), Int32(g.k), 1,
                        w + grp * g.mg * g.k, Int32(g.k), col, Int32(ld), 0, tmp, Int32(ld))
            for (bi, i) in range.enumerated() {
                for m in 0..<g.mg {
                    let ch = grp * g.mg + m
                    let src = tmp + m * ld + bi * g.p
                    let dst = out + (i * g.m + ch) * g.p
                    let bv = bias?[ch] ?? 0
                    if relu {
                        for j in 0..<g.p { dst[j] = max(src[j] + bv, 0) }
                    } else {
                        for j in 0..<g.p { dst[j] = src[j] + bv }
                    }
                }
            }
        }
    }

    /// Input VJP of samples `range` with one GEMM per group (see `forwardBatch`); `dx` must be zero.
    static func backwardBatch(_ range: Range<Int>, _ g: Geometry, _ dy: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                              _ col: UnsafeMutablePointer<Float>, _ tmp: UnsafeMutablePointer<Float>,
                              _ dx: UnsafeMutablePointer<Float>) {
        let b = range.count, ld = b * g.p
        for grp in 0..<g.groups {
            for (bi, i) in range.enumerated() {
                for m in 0..<g.mg {
                    (tmp + m * ld + bi * g.p).update(from: dy + (i * g.m + grp * g.mg + m) * g.p, count: g.p)
                }
            }
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(g.k), Int32(ld), Int32(g.mg), 1,
                        w + grp * g.mg * g.k, Int32(g.k), tmp, Int32(ld), 0, col, Int32(ld))
            for (bi, i) in range.enumerated() {
                col2im(col + bi * g.p, g, dx + i * g.c * g.h * g.w + grp * g.cg * g.h * g.w, ld: ld)
            }
        }
    }

    /// One row of the patch matrix: input channel `c` seen through kernel tap (ki, kj). Output
    /// position (oh, ow) reads input (oh·sH + offH, ow·sW + offW) of that channel's plane, which
    /// lies inside the image exactly for oh in `rows` and ow in `columns`.
    struct PatchRow {
        let plane: Int, offH: Int, offW: Int
        let rows: Range<Int>, columns: Range<Int>
    }

    /// Output indices `o` in `0..<outSize` with `o·stride + offset` in `0..<inSize`.
    @inline(__always)
    static func inside(offset: Int, stride: Int, inSize: Int, outSize: Int) -> Range<Int> {
        let lo = offset >= 0 ? 0 : min(outSize, (-offset + stride - 1) / stride)
        return lo..<max(lo, min(outSize, (inSize - offset + stride - 1) / stride))
    }

    /// Calls `body(r, row)` for the `Cg·kH·kW` rows of the patch matrix of one group, in order.
    @inline(__always)
    static func forEachPatchRow(_ g: Geometry, _ body: (Int, PatchRow) -> Void) {
        var r = 0
        for c in 0..<g.cg {
            for ki in 0..<g.kh {
                for kj in 0..<g.kw {
                    let offH = ki * g.dh - g.pt, offW = kj * g.dw - g.pl
                    body(r, PatchRow(plane: c * g.h * g.w, offH: offH, offW: offW,
                                     rows: inside(offset: offH, stride: g.sh, inSize: g.h, outSize: g.oh),
                                     columns: inside(offset: offW, stride: g.sw, inSize: g.w, outSize: g.ow)))
                    r += 1
                }
            }
        }
    }

    /// Writes the `[Cg*kH*kW, oH*oW]` patch matrix (rows `ld` apart) of one group of one image.
    @inline(__always)
    static func im2col(_ src: UnsafePointer<Float>, _ g: Geometry, _ col: UnsafeMutablePointer<Float>, ld: Int? = nil) {
        let ld = ld ?? g.p
        forEachPatchRow(g) { r, t in
            let row = col + r * ld
            let lo = t.columns.lowerBound, hi = t.columns.upperBound
            for oh in 0..<g.oh {
                let dst = row + oh * g.ow
                guard t.rows.contains(oh) else {
                    dst.update(repeating: 0, count: g.ow)
                    continue
                }
                let line = src + t.plane + (oh * g.sh + t.offH) * g.w + t.offW
                if lo > 0 { dst.update(repeating: 0, count: lo) }
                if g.sw == 1 {
                    (dst + lo).update(from: line + lo, count: hi - lo)
                } else {
                    for ow in lo..<hi { dst[ow] = line[ow * g.sw] }
                }
                if hi < g.ow { (dst + hi).update(repeating: 0, count: g.ow - hi) }
            }
        }
    }

    /// Adds the patch matrix `col` (rows `ld` apart) back into the image plane group `dst` (the adjoint of im2col).
    @inline(__always)
    static func col2im(_ col: UnsafePointer<Float>, _ g: Geometry, _ dst: UnsafeMutablePointer<Float>, ld: Int? = nil) {
        let ld = ld ?? g.p
        forEachPatchRow(g) { r, t in
            let row = col + r * ld
            for oh in t.rows {
                let line = dst + t.plane + (oh * g.sh + t.offH) * g.w + t.offW
                let src = row + oh * g.ow
                let lo = t.columns.lowerBound
                if g.sw == 1 {
                    addInPlace(line + lo, src + lo, count: t.columns.count)
                } else if g.sw == 2 {
                    addInPlaceEveryOther(line + 2 * lo, src + lo, count: t.columns.count)
                } else {
                    for ow in t.columns { line[ow * g.sw] += src[ow] }
                }
            }
        }
    }

    /// `dst[i] += src[i]` for `i < count`, eight lanes at a time (the compiler cannot prove the
    /// two pointers disjoint, so a plain loop stays scalar).
    @inline(__always)
    static func addInPlace(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, count: Int) {
        let d = UnsafeMutableRawPointer(dst), s = UnsafeRawPointer(src)
        var i = 0
        while i + 8 <= count {
            let sum = d.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
                + s.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
            d.storeBytes(of: sum, toByteOffset: i * 4, as: SIMD8<Float>.self)
            i += 8
        }
        while i < count { dst[i] += src[i]; i += 1 }
    }

    /// `dst[2i] += src[i]` for `i < count` (col2im at stride 2), eight lanes at a time. A block
    /// touches `dst[2i ..< 2i + 16]`, so it runs only while `2i + 15 < 2(count − 1)` keeps
    /// it inside the span the caller owns.
    @inline(__always)
    static func addInPlaceEveryOther(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, count: Int) {
        let d = UnsafeMutableRawPointer(dst), s = UnsafeRawPointer(src)
        var i = 0
        while i + 9 <= count {
            var block = d.loadUnaligned(fromByteOffset: i * 8, as: SIMD16<Float>.self)
            block.evenHalf += s.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
            d.storeBytes(of: block, toByteOffset: i * 8, as: SIMD16<Float>.self)
            i += 8
        }
        while i < count { dst[2 * i] += src[i]; i += 1 }
    }
}
