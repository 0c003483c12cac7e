/// Pillow's `Image.resize(..., Image.BILINEAR)` (Resample.c), reproduced operation for operation
/// so that results equal Pillow's: a separable triangle filter whose support widens by the
/// down-scaling factor (antialiasing), horizontal pass first, then vertical.
///
/// 8-bit images use Pillow's fixed-point path: coefficients rounded to 22 fractional bits, each
/// pass rounds and clips to UInt8 (so the intermediate image is 8-bit, as in Pillow). Float images
/// use Pillow's "F"-mode path: double coefficients and accumulators, float32 results.
/// Only the output window `rows × cols` is computed (a fused center crop): each output pixel depends
/// on its own coefficients only, so the window equals the same window of the full resize.
enum PillowResample {
    static let precisionBits = 32 - 8 - 2

    /// Filter taps of one axis: output `i` reads inputs `start[i] ..< start[i] + length[i]`
    /// with weights `weights[i * taps ..< i * taps + length[i]]`.
    struct Axis {
        var start: [Int]
        var length: [Int]
        var taps: Int
        var weights: [Double]
        var fixed: [Int32]

        /// Pillow's `precompute_coeffs` for the box `0 ..< inSize` mapped onto `outSize` samples.
        init(inSize: Int, outSize: Int) {
            let in0: Float = 0, in1 = Float(inSize)
            let scale = Double(in1 - in0) / Double(outSize)
            let filterScale = max(scale, 1.0)
            let support = 1.0 * filterScale
            taps = Int(support.rounded(.up)) * 2 + 1
            start = [Int](repeating: 0, count: outSize)
            length = [Int](repeating: 0, count: outSize)
            weights = [Double](repeating: 0, count: outSize * taps)
            let ss = 1.0 / filterScale
            for xx in 0..<outSize {
                let center = Double(in0) + (Double(xx) + 0.5) * scale
                var xmin = Int(center - support + 0.5)
                if xmin < 0 { xmin = 0 }
                var xmax = Int(center + support + 0.5)
                if xmax > inSize { xmax = inSize }
                xmax -= xmin
                var ww = 0.0
                for x in 0..<xmax {
                    let w = PillowResample.triangle((Double(x + xmin) - center + 0.5) * ss)
                    weights[xx * taps + x] = w
                    ww += w
                }
                if ww != 0 {
                    for x in 0..<xmax { weights[xx * taps + x] /= ww }
                }
                start[xx] = xmin
                length[xx] = xmax
            }
            let one = Double(1 << PillowResample.precisionBits)
            fixed = weights.map { w in Int32(w < 0 ? (-0.5 + w * one) : (0.5 + w * one)) }
        }
    }

    @inline(__always) static func triangle(_ x: Double) -> Double {
        let a = abs(x)
        return a < 1 ? 1 - a : 0
    }

    /// Pillow's `clip8`: 0 for sums ≤ 0, 255 for sums ≥ 2^30, else `v >> 22` — which is exactly
    /// `v >> 22` clamped to 0…255 (arithmetic shift), written branch-free so loops vectorise.
    @inline(__always) static func clip8(_ v: Int32) -> UInt8 {
        UInt8(truncatingIfNeeded: min(max(v >> Int32(precisionBits), 0), 255))
    }

    /// Resizes an 8-bit HWC image of `inWidth × inHeight × channels` to `outWidth × outHeight` and
    /// returns the window `rows × cols` (each a range inside the output) as HWC UInt8.
    static func resize(_ src: [UInt8], inWidth: Int, inHeight: Int, channels: Int,
                       outWidth: Int, outHeight: Int, rows: Range<Int>, cols: Range<Int>) -> [UInt8] {
        let needH = outWidth != inWidth, needV = outHeight != inHeight
        let hAxis = needH ? Axis(inSize: inWidth, outSize: outWidth) : nil
        let vAxis = needV ? Axis(inSize: inHeight, outSize: outHeight) : nil
        // Source rows the window needs.
        let firstRow: Int, lastRow: Int
        if let v = vAxis, !rows.isEmpty {
            firstRow = rows.map { v.start[$0] }.min() ?? 0
            lastRow = rows.map { v.start[$0] + v.length[$0] }.max() ?? 0
        } else {
            firstRow = rows.lowerBound
            lastRow = rows.upperBound
        }
        // Horizontal pass over the needed rows, only the window's columns.
        let tmpRows = lastRow - firstRow
        let tmpWidth = cols.count
        var tmp = [UInt8](repeating: 0, count: tmpRows * tmpWidth * channels)
        src.withUnsafeBufferPointer { s in
            tmp.withUnsafeMutableBufferPointer { t in
                if let h = hAxis {
                    h.fixed.withUnsafeBufferPointer { k in
                        horizontal(s, inWidth: inWidth, channels: channels, axis: h, k: k,
                                   rows: firstRow..<lastRow, cols: cols, into: t)
                    }
                } else {
                    for r in 0..<tmpRows {
                        let from = ((firstRow + r) * inWidth + cols.lowerBound) * channels
                        for i in 0..<(tmpWidth * channels) { t[r * tmpWidth * channels + i] = s[from + i] }
                    }
                }
            }
        }
        guard let v = vAxis else { return tmp }
        var out = [UInt8](repeating: 0, count: rows.count * tmpWidth * channels)
        let rowLength = tmpWidth * channels
        var acc = [Int32](repeating: 0, count: rowLength)
        tmp.withUnsafeBufferPointer { t in
            out.withUnsafeMutableBufferPointer { o in
                acc.withUnsafeMutableBufferPointer { a in
                    v.fixed.withUnsafeBufferPointer { k in
                        let half = Int32(1 << (precisionBits - 1))
                        guard let ap = a.baseAddress, let op = o.baseAddress, let tp = t.baseAddress else { return }
                        for (oy, y) in rows.enumerated() {
                            // Taps outer, pixels inner (vectorisable); same sums as Pillow's loop order,
                            // integer addition being associative.
                            for i in 0..<rowLength { ap[i] = half }
                            for j in 0..<v.length[y] {
                                let w = k[y * v.taps + j]
                                let src = tp + (v.start[y] - firstRow + j) * rowLength
                                for i in 0..<rowLength { ap[i] &+= Int32(truncatingIfNeeded: src[i]) &* w }
                            }
                            let dst = op + oy * rowLength
                            for i in 0..<rowLength { dst[i] = clip8(ap[i]) }
                        }
                    }
                }
            }
        }
        return out
    }

    private static func horizontal(_ s: UnsafeBufferPointer<UInt8>, inWidth: Int, channels: Int, axis h: Axis,
                                   k: UnsafeBufferPointer<Int32>, rows: Range<Int>, cols: Range<Int>,
                                   into t: UnsafeMutableBufferPointer<UInt8>) {
        let half = Int32(1 << (precisionBits - 1))
        let outRow = cols.count * channels
        guard let sp = s.baseAddress, let tp = t.baseAddress, let kp = k.baseAddress else { return }
        let stride = inWidth * channels
        if channels == 3 {
            // Two rows per sweep share each column's coefficients (same sums as row by row).
            var ty = 0
            while ty < rows.count {
                let pair = ty + 1 < rows.count
                let rowA = sp + (rows.lowerBound + ty) * stride
                let rowB = pair ? rowA + stride : rowA
                var oA = tp + ty * outRow
                var oB = pair ? oA + outRow : oA
                for x in cols {
                    let n = h.length[x]
                    let kk = kp + x * h.taps
                    let first = h.start[x] * 3
                    var a = rowA + first, b = rowB + first
                    var a0 = half, a1 = half, a2 = half, b0 = half, b1 = half, b2 = half
                    for j in 0..<n {
                        let w = kk[j]
                        a0 &+= Int32(truncatingIfNeeded: a[0]) &* w
                        a1 &+= Int32(truncatingIfNeeded: a[1]) &* w
                        a2 &+= Int32(truncatingIfNeeded: a[2]) &* w
                        b0 &+= Int32(truncatingIfNeeded: b[0]) &* w
                        b1 &+= Int32(truncatingIfNeeded: b[1]) &* w
                        b2 &+= Int32(truncatingIfNeeded: b[2]) &* w
                        a += 3
                        b += 3
                    }
                    oB[0] = clip8(b0); oB[1] = clip8(b1); oB[2] = clip8(b2)
                    oA[0] = clip8(a0); oA[1] = clip8(a1); oA[2] = clip8(a2)
                    oA += 3
                    oB += 3
                }
                ty += 2
            }
            return
        }
        for (ty, y) in rows.enumerated() {
            let row = sp + y * stride
            var o = tp + ty * outRow
            for x in cols {
                let n = h.length[x]
                let kk = kp + x * h.taps
                let p = row + h.start[x] * channels
                for c in 0..<channels {
                    var ss = half
                    for j in 0..<n { ss &+= Int32(truncatingIfNeeded: p[j * channels + c]) &* kk[j] }
                    o[c] = clip8(ss)
                }
                o += channels
            }
        }
    }

    /// The float ("F"-mode) counterpart of `resize`: each channel of an HWC float image is filtered
    /// with double coefficients and accumulators, rounded to Float after each pass.
    static func resize(_ src: [Float], inWidth: Int, inHeight: Int, channels: Int,
                       outWidth: Int, outHeight: Int, rows: Range<Int>, cols: Range<Int>) -> [Float] {
        let hAxis = outWidth != inWidth ? Axis(inSize: inWidth, outSize: outWidth) : nil
        let vAxis = outHeight != inHeight ? Axis(inSize: inHeight, outSize: outHeight) : nil
        let firstRow = vAxis.map { v in rows.map { v.start[$0] }.min() ?? 0 } ?? rows.lowerBound
        let lastRow = vAxis.map { v in rows.map { v.start[$0] + v.length[$0] }.max() ?? 0 } ?? rows.upperBound
        let w = cols.count
        var tmp = [Float](repeating: 0, count: (lastRow - firstRow) * w * channels)
        for (ty, y) in (firstRow..<lastRow).enumerated() {
            for (tx, x) in cols.enumerated() {
                for c in 0..<channels {
                    if let h = hAxis {
                        var ss = 0.0
                        for j in 0..<h.length[x] {
                            ss += Double(src[(y * inWidth + h.start[x] + j) * channels + c]) * h.weights[x * h.taps + j]
                        }
                        tmp[(ty * w + tx) * channels + c] = Float(ss)
                    } else {
                        tmp[(ty * w + tx) * channels + c] = src[(y * inWidth + x) * channels + c]
                    }
                }
            }
        }
        guard let v = vAxis else { return tmp }
        var out = [Float](repeating: 0, count: rows.count * w * channels)
        for (oy, y) in rows.enumerated() {
            for i in 0..<(w * channels) {
                var ss = 0.0
                for j in 0..<v.length[y] {
                    ss += Double(tmp[(v.start[y] - firstRow + j) * w * channels + i]) * v.weights[y * v.taps + j]
                }
                out[oy * w * channels + i] = Float(ss)
            }
        }
        return out
    }
}
