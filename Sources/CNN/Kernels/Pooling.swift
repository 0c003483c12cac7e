import Core

/// MaxPool / AveragePool / GlobalAveragePool on NCHW, forward and input-VJP.
enum Pooling {
    static func check(_ s: [Int], _ what: String) throws {
        guard s.count == 4 else { throw ModelError.shapeMismatch("\(what) supports 2-D NCHW input only, got shape \(s)") }
    }

    /// Max pooling; also returns, per output element, the flat index of the winner inside its
    /// `H×W` input plane (-1 when the window holds only padding).
    /// Planes (sample × channel) are split over `threads` workers. Within a window the first
    /// maximum in row-major order wins (PyTorch's and ONNX's tie rule; a NaN first tap stays).
    static func maxForward(_ p: Pool2D, _ x: Tensor, threads: Int = 1) throws -> (Tensor, [Int32]) {
        try check(x.shape, "MaxPool")
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let win = p.window, r = win.resolve(h: h, w: w)
        let planeOut = r.outH * r.outW
        var arg = [Int32](repeating: -1, count: n * c * planeOut)
        let data: [Float] = Buffers.make(n * c * planeOut) { out in
            x.data.withUnsafeBufferPointer { xs in
                arg.withUnsafeMutableBufferPointer { am in
                    let xp = SharedConstPointer(xs.baseAddress!), op = SharedPointer(out.baseAddress!)
                    let ap = SharedPointer(am.baseAddress!)
                    // Small planes are not worth a thread hand-off.
                    let workers = n * c * h * w < 65_536 ? 1 : threads
                    Parallel.chunks(n * c, threads: workers) { planes, _ in
                        for plane in planes {
                            let src = xp.base + plane * h * w
                            var o = plane * planeOut
                            for oh in 0..<r.outH {
                                let h0 = oh * win.strideH - r.padTop
                                let (kiLo, kiHi) = taps(h0, win.kernelH, win.dilationH, h)
                                let fullRows = kiLo == 0 && kiHi == win.kernelH && win.dilationH == 1 && win.dilationW == 1
                                    && (1...2).contains(win.strideW)
                                var ow = 0
                                while ow < r.outW {
                                    let w0 = ow * win.strideW - r.padLeft
                                    if fullRows && w0 >= 0 && ow + 8 <= r.outW && w0 + win.kernelW - 1 + 8 * win.strideW <= w {
                                        maxEight(src, w: w, h0: h0, w0: w0, kernelH: win.kernelH, kernelW: win.kernelW,
                                                 stride: win.strideW, op.base + o, ap.base + o)
                                        o += 8
                                        ow += 8
                                        continue
                                    }
                                    defer { ow += 1 }
                                    let (kjLo, kjHi) = taps(w0, win.kernelW, win.dilationW, w)
                                    guard kiLo < kiHi, kjLo < kjHi else {
                                        op.base[o] = 0
                                        ap.base[o] = -1
                                        o += 1
                                        continue
                                    }
                                    var bi = (h0 + kiLo * win.dilationH) * w + w0 + kjLo * win.dilationW
                                    var best = src[bi]
                                    for ki in kiLo..<kiHi {
                                        let rowBase = (h0 + ki * win.dilationH) * w + w0
                                        for kj in kjLo..<kjHi {
                                            let at = rowBase + kj * win.dilationW
                                            let v = src[at]
                                            if v > best { best = v; bi = at }
                                        }
                                    }
                                    op.base[o] = best
                                    ap.base[o] = Int32(bi)
                                    o += 1
                                }
                            }
                        }
                    }
                }
            }
        }
        return (Tensor(uncheckedShape: [n, c, r.outH, r.outW], data: data), arg)
    }

    /// Eight consecutive outputs of one row of a unit-dilation window with column stride 1 or 2
    /// whose taps (and the loads, up to `w0 + kernelW − 1 + 8·stride` exclusive) lie inside the
    /// row: the scalar loop's scan lane by lane (row-major, strict `>`, the first tap's value to
    /// start), so values and argmaxes are the same.
    @inline(__always)
    static func maxEight(_ src: UnsafePointer<Float>, w: Int, h0: Int, w0: Int, kernelH: Int, kernelW: Int, stride: Int,
                         _ out: UnsafeMutablePointer<Float>, _ arg: UnsafeMutablePointer<Int32>) {
        let lanes = SIMD8<Int32>(0, 1, 2, 3, 4, 5, 6, 7) &* Int32(stride)
        @inline(__always) func load(_ at: Int) -> SIMD8<Float> {
            let p = UnsafeRawPointer(src + at)
            return stride == 1 ? p.loadUnaligned(as: SIMD8<Float>.self) : p.loadUnaligned(as: SIMD16<Float>.self).evenHalf
        }
        let first = h0 * w + w0
        var best = load(first), index = SIMD8<Int32>(repeating: Int32(first)) &+ lanes
        for ki in 0..<kernelH {
            let rowBase = (h0 + ki) * w + w0
            for kj in 0..<kernelW where ki > 0 || kj > 0 {
                let v = load(rowBase + kj)
                let better = v .> best
                best.replace(with: v, where: better)
                index.replace(with: SIMD8<Int32>(repeating: Int32(rowBase + kj)) &+ lanes, where: better)
            }
        }
        UnsafeMutableRawPointer(out).storeBytes(of: best, as: SIMD8<Float>.self)
        UnsafeMutableRawPointer(arg).storeBytes(of: index, as: SIMD8<Int32>.self)
    }

    /// Routes each cotangent row `[S, C, oH, oW]` to the argmax of sample `row / t`.
    static func maxBackward(inputShape s: [Int], argmax: [Int32], grad: Tensor, tile t: Int) -> Tensor {
        let (c, h, w) = (s[1], s[2], s[3])
        let planeOut = grad.count / max(1, grad.shape[0] * c)
        let samples = grad.shape[0]
        var out = [Float](repeating: 0, count: samples * c * h * w)
        out.withUnsafeMutableBufferPointer { os in
            grad.data.withUnsafeBufferPointer { gs in
                argmax.withUnsafeBufferPointer { am in
                    for sIdx in 0..<samples {
                        let src = sIdx / t
                        for ch in 0..<c {
                            let g = gs.baseAddress! + (sIdx * c + ch) * planeOut
                            let a = am.baseAddress! + (src * c + ch) * planeOut
                            let d = os.baseAddress! + (sIdx * c + ch) * h * w
                            for j in 0..<planeOut where a[j] >= 0 { d[Int(a[j])] += g[j] }
                        }
                    }
                }
            }
        }
        return Tensor(uncheckedShape: [samples, c, h, w], data: out)
    }

    /// JVP: each tangent row `[S, C, H, W]` read at the argmax of sample `row / t`, giving
    /// `outputShape` `[S, C, oH, oW]` (0 where a window held only padding).
    static func maxTangent(argmax: [Int32], tangent: Tensor, outputShape s: [Int], tile t: Int) -> Tensor {
        let (samples, c) = (s[0], s[1])
        let planeOut = s[2] * s[3], planeIn = tangent.count / max(1, samples * c)
        let data: [Float] = Buffers.make(samples * c * planeOut) { out in
            tangent.data.withUnsafeBufferPointer { ts in
                argmax.withUnsafeBufferPointer { am in
                    for sIdx in 0..<samples {
                        let src = sIdx / t
                        for ch in 0..<c {
                            let x = ts.baseAddress! + (sIdx * c + ch) * planeIn
                            let a = am.baseAddress! + (src * c + ch) * planeOut
                            let o = out.baseAddress! + (sIdx * c + ch) * planeOut
                            for j in 0..<planeOut { o[j] = a[j] >= 0 ? x[Int(a[j])] : 0 }
                        }
                    }
                }
            }
        }
        return Tensor(uncheckedShape: s, data: data)
    }

    /// Kernel taps `lo..<hi` whose position `start + tap * dilation` lies in `0..<extent`.
    @inline(__always)
    static func taps(_ start: Int, _ k: Int, _ d: Int, _ extent: Int) -> (Int, Int) {
        let lo = start >= 0 ? 0 : (-start + d - 1) / d
        let room = extent - start
        let hi = room <= 0 ? 0 : min(k, (room + d - 1) / d)
        return (min(lo, hi), hi)
    }

    /// Window element count used as the divisor for output (oh, ow).
    @inline(__always)
    private static func divisor(_ win: Window2D, _ r: ResolvedWindow, h: Int, w: Int, oh: Int, ow: Int, includePad: Bool) -> Int {
        func count(_ o: Int, _ s: Int, _ p0: Int, _ k: Int, _ d: Int, _ n: Int, _ p1: Int) -> Int {
            let lo = includePad ? -p0 : 0, hi = includePad ? n + p1 : n
            var c = 0
            for i in 0..<k {
                let pos = o * s - p0 + i * d
                if pos >= lo && pos < hi { c += 1 }
            }
            return c
        }
        return count(oh, win.strideH, r.padTop, win.kernelH, win.dilationH, h, r.padBottom)
            * count(ow, win.strideW, r.padLeft, win.kernelW, win.dilationW, w, r.padRight)
    }

    /// Average pooling (ONNX semantics; `includePad` = count_include_pad).
    static func averageForward(_ p: Pool2D, includePad: Bool, _ x: Tensor) throws -> Tensor {
        try check(x.shape, "AveragePool")
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let win = p.window, r = win.resolve(h: h, w: w)
        let planeOut = r.outH * r.outW
        let data: [Float] = Buffers.make(n * c * planeOut) { out in
            x.data.withUnsafeBufferPointer { xs in
                for plane in 0..<(n * c) {
                    let src = xs.baseAddress! + plane * h * w
                    var o = plane * planeOut
                    for oh in 0..<r.outH {
                        for ow in 0..<r.outW {
                            var sum: Float = 0
                            for ki in 0..<win.kernelH {
                                let ih = oh * win.strideH - r.padTop + ki * win.dilationH
                                if ih < 0 || ih >= h { continue }
                                for kj in 0..<win.kernelW {
                                    let iw = ow * win.strideW - r.padLeft + kj * win.dilationW
                                    if iw >= 0 && iw < w { sum += src[ih * w + iw] }
                                }
                            }
                            let d = divisor(win, r, h: h, w: w, oh: oh, ow: ow, includePad: includePad)
                            out[o] = d > 0 ? sum / Float(d) : 0
                            o += 1
                        }
                    }
                }
            }
        }
        return Tensor(uncheckedShape: [n, c, r.outH, r.outW], data: data)
    }

    static func averageBackward(_ p: Pool2D, includePad: Bool, inputShape s: [Int], grad: Tensor) -> Tensor {
        let (c, h, w) = (s[1], s[2], s[3])
        let win = p.window, r = win.resolve(h: h, w: w)
        let samples = grad.shape[0], planeOut = r.outH * r.outW
        var out = [Float](repeating: 0, count: samples * c * h * w)
        out.withUnsafeMutableBufferPointer { os in
            grad.data.withUnsafeBufferPointer { gs in
                for plane in 0..<(samples * c) {
                    let d = os.baseAddress! + plane * h * w
                    var o = plane * planeOut
                    for oh in 0..<r.outH {
                        for ow in 0..<r.outW {
                            let cnt = divisor(win, r, h: h, w: w, oh: oh, ow: ow, includePad: includePad)
                            let v = cnt > 0 ? gs[o] / Float(cnt) : 0
                            o += 1
                            for ki in 0..<win.kernelH {
                                let ih = oh * win.strideH - r.padTop + ki * win.dilationH
                                if ih < 0 || ih >= h { continue }
                                for kj in 0..<win.kernelW {
                                    let iw = ow * win.strideW - r.padLeft + kj * win.dilationW
                                    if iw >= 0 && iw < w { d[ih * w + iw] += v }
                                }
                            }
                        }
                    }
                }
            }
        }
        return Tensor(uncheckedShape: [samples, c, h, w], data: out)
    }
}
