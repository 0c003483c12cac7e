import Foundation

/// The similarity measures of the sanity checks (METHOD §7), each matching its SciPy /
/// scikit-image counterpart: Spearman's ρ (`scipy.stats.spearmanr`), Kendall's τ-b
/// (`scipy.stats.kendalltau`), SSIM (`skimage.metrics.structural_similarity` with
/// `gaussian_weights=True, sigma=1.5`), HOG features (`skimage.feature.hog`), and Adebayo's map
/// normalisations. Undefined correlations (a constant input) are NaN, as in SciPy.
///
///     let rho = MapMetrics.spearman([1, 2, 3], [1, 3, 2])   // 0.5
public enum MapMetrics {
    /// Ranks 1…n with ties given their average rank (`scipy.stats.rankdata`).
    public static func ranks(_ x: [Double]) -> [Double] {
        let order = x.indices.sorted { x[$0] < x[$1] }
        var r = [Double](repeating: 0, count: x.count)
        var i = 0
        while i < order.count {
            var j = i
            while j + 1 < order.count && x[order[j + 1]] == x[order[i]] { j += 1 }
            let average = Double(i + j) / 2 + 1
            for k in i...j { r[order[k]] = average }
            i = j + 1
        }
        return r
    }

    /// Pearson's r (NaN when either side is constant or the inputs are shorter than 2).
    public static func pearson(_ a: [Double], _ b: [Double]) -> Double {
        let n = Double(a.count)
        guard a.count == b.count, a.count > 1 else { return .nan }
        let ma = a.reduce(0, +) / n, mb = b.reduce(0, +) / n
        var sab = 0.0, saa = 0.0, sbb = 0.0
        for (x, y) in zip(a, b) {
            sab += (x - ma) * (y - mb)
            saa += (x - ma) * (x - ma)
            sbb += (y - mb) * (y - mb)
        }
        guard saa > 0, sbb > 0 else { return .nan }
        return max(-1, min(1, sab / (saa * sbb).squareRoot()))
    }

    /// Spearman's rank correlation: Pearson's r of the average ranks.
    public static func spearman(_ a: [Double], _ b: [Double]) -> Double {
        pearson(ranks(a), ranks(b))
    }

    /// Kendall's τ-b with ties (SciPy's default), by Knight's O(n log n) algorithm.
    public static func kendall(_ a: [Double], _ b: [Double]) -> Double {
        let n = a.count
        guard n == b.count, n > 1 else { return .nan }
        let order = (0..<n).sorted { a[$0] != a[$1] ? a[$0] < a[$1] : b[$0] < b[$1] }
        func tiedPairs(_ same: (Int, Int) -> Bool, _ seq: [Int]) -> Double {
            var total = 0.0, run = 1.0
            for k in 1..<seq.count {
                if same(seq[k - 1], seq[k]) { run += 1 } else { total += run * (run - 1) / 2; run = 1 }
            }
            return total + run * (run - 1) / 2
        }
        let xTies = tiedPairs({ a[$0] == a[$1] }, order)
        let jointTies = tiedPairs({ a[$0] == a[$1] && b[$0] == b[$1] }, order)
        // Discordant pairs: inversions of b in the (a, b) order, by a merge sort.
        var ys = order.map { b[$0] }
        var buffer = ys
        var swaps = 0.0
        var width = 1
        while width < n {
            var lo = 0
            while lo < n {
                let mid = min(lo + width, n), hi = min(lo + 2 * width, n)
                var i = lo, j = mid, k = lo
                while i < mid && j < hi {
                    if ys[j] < ys[i] { buffer[k] = ys[j]; swaps += Double(mid - i); j += 1 } else { buffer[k] = ys[i]; i += 1 }
                    k += 1
                }
                while i < mid { buffer[k] = ys[i]; i += 1; k += 1 }
                while j < hi { buffer[k] = ys[j]; j += 1; k += 1 }
                lo = hi
            }
            swap(&ys, &buffer)
            width *= 2
        }
        var yTies = 0.0, run = 1.0
        for k in 1..<n {
            if ys[k] == ys[k - 1] { run += 1 } else { yTies += run * (run - 1) / 2; run = 1 }
        }
        yTies += run * (run - 1) / 2
        let total = Double(n) * Double(n - 1) / 2
        guard total > xTies, total > yTies else { return .nan }
        let score = total - xTies - yTies + jointTies - 2 * swaps
        return max(-1, min(1, score / (total - xTies).squareRoot() / (total - yTies).squareRoot()))
    }

    /// `numpy.percentile(x, q)` (linear interpolation between order statistics).
    public static func percentile(_ x: [Double], _ q: Double) -> Double {
        guard !x.isEmpty else { return .nan }
        let s = x.sorted()
        let pos = q / 100 * Double(s.count - 1)
        let lo = Int(pos.rounded(.down)), hi = min(lo + 1, s.count - 1)
        return s[lo] + (s[hi] - s[lo]) * (pos - Double(lo))
    }

    /// Adebayo's normalisation of an absolute map: |M| clipped at its 99th percentile, scaled to [0, 1].
    public static func normalizedAbsolute(_ m: [Double]) -> [Double] {
        let a = m.map(abs)
        let top = percentile(a, 99)
        guard top > 0 else { return a.map { _ in 0 } }
        return a.map { min($0, top) / top }
    }

    /// Adebayo's normalisation of a signed map: M divided by the 99th percentile of |M|, clipped to [−1, 1].
    public static func normalizedSigned(_ m: [Double]) -> [Double] {
        let top = percentile(m.map(abs), 99)
        guard top > 0 else { return m.map { _ in 0 } }
        return m.map { max(-1, min(1, $0 / top)) }
    }

    /// Mean SSIM of two `height`×`width` maps, as `skimage.metrics.structural_similarity(a, b,
    /// gaussian_weights=True, sigma=1.5, data_range=dataRange)` (K1 0.01, K2 0.03, an 11-tap
    /// Gaussian with reflected borders, sample covariance, the border of 5 pixels cropped).
    public static func ssim(_ a: [Double], _ b: [Double], height: Int, width: Int, dataRange: Double) -> Double {
        let sigma = 1.5, radius = Int(3.5 * sigma + 0.5)
        guard a.count == height * width, b.count == a.count, height > 2 * radius, width > 2 * radius else { return .nan }
        var kernel = (-radius...radius).map { exp(-0.5 * Double($0 * $0) / (sigma * sigma)) }
        let sum = kernel.reduce(0, +)
        kernel = kernel.map { $0 / sum }
        // scipy.ndimage 'reflect': d c b a | a b c d | d c b a.
        func reflect(_ i: Int, _ n: Int) -> Int {
            var i = i
            while i < 0 || i >= n { i = i < 0 ? -i - 1 : 2 * n - i - 1 }
            return i
        }
        func filter(_ x: [Double]) -> [Double] {
            var rows = [Double](repeating: 0, count: x.count)
            for r in 0..<height {
                for c in 0..<width {
                    var s = 0.0
                    for (t, w) in kernel.enumerated() { s += w * x[r * width + reflect(c + t - radius, width)] }
                    rows[r * width + c] = s
                }
            }
            var out = [Double](repeating: 0, count: x.count)
            for r in 0..<height {
                for c in 0..<width {
                    var s = 0.0
                    for (t, w) in kernel.enumerated() { s += w * rows[reflect(r + t - radius, height) * width + c] }
                    out[r * width + c] = s
                }
            }
            return out
        }
        let np = Double((2 * radius + 1) * (2 * radius + 1))
        let covNorm = np / (np - 1)
        let ux = filter(a), uy = filter(b)
        let uxx = filter(a.map { $0 * $0 }), uyy = filter(b.map { $0 * $0 }), uxy = filter(zip(a, b).map { $0 * $1 })
        let c1 = (0.01 * dataRange) * (0.01 * dataRange), c2 = (0.03 * dataRange) * (0.03 * dataRange)
        var total = 0.0, count = 0
        for r in radius..<(height - radius) {
            for c in radius..<(width - radius) {
                let i = r * width + c
                let vx = covNorm * (uxx[i] - ux[i] * ux[i]), vy = covNorm * (uyy[i] - uy[i] * uy[i])
                let vxy = covNorm * (uxy[i] - ux[i] * uy[i])
                let s = (2 * ux[i] * uy[i] + c1) * (2 * vxy + c2) / ((ux[i] * ux[i] + uy[i] * uy[i] + c1) * (vx + vy + c2))
                total += s
                count += 1
            }
        }
        return total / Double(count)
    }

    /// HOG features of a `height`×`width` map as `skimage.feature.hog(m, orientations=9,
    /// pixels_per_cell=(cell, cell), cells_per_block=(1, 1), block_norm="L2-Hys")`: central
    /// differences (zero on the border), unsigned orientation in 9 bins of 20°, magnitude summed per
    /// cell over the cell's area, each cell L2-normalised, clipped at 0.2, renormalised.
    public static func hog(_ m: [Double], height: Int, width: Int, cell: Int = 16) -> [Double] {
        let bins = 9
        var gr = [Double](repeating: 0, count: m.count), gc = gr
        if height > 2 { for r in 1..<(height - 1) { for c in 0..<width { gr[r * width + c] = m[(r + 1) * width + c] - m[(r - 1) * width + c] } } }
        if width > 2 { for r in 0..<height { for c in 1..<(width - 1) { gc[r * width + c] = m[r * width + c + 1] - m[r * width + c - 1] } } }
        let cellsR = height / cell, cellsC = width / cell
        var features = [Double]()
        for cr in 0..<cellsR {
            for cc in 0..<cellsC {
                var h = [Double](repeating: 0, count: bins)
                for r in (cr * cell)..<((cr + 1) * cell) {
                    for c in (cc * cell)..<((cc + 1) * cell) {
                        let i = r * width + c
                        var angle = atan2(gr[i], gc[i]) * 180 / .pi
                        angle = angle.truncatingRemainder(dividingBy: 180)
                        if angle < 0 { angle += 180 }
                        let magnitude = (gr[i] * gr[i] + gc[i] * gc[i]).squareRoot()
                        for k in 0..<bins where angle < 180 / Double(bins) * Double(k + 1) && angle >= 180 / Double(bins) * Double(k) {
                            h[k] += magnitude
                        }
                    }
                }
                h = h.map { $0 / Double(cell * cell) }
                let eps = 1e-5
                var norm = (h.reduce(0) { $0 + $1 * $1 } + eps * eps).squareRoot()
                h = h.map { min($0 / norm, 0.2) }
                norm = (h.reduce(0) { $0 + $1 * $1 } + eps * eps).squareRoot()
                features += h.map { $0 / norm }
            }
        }
        return features
    }
}
