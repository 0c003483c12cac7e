import COpenBLAS
import Core

/// Bisecting k-means (METHOD §3, the paper's concepts): start from one cluster holding every PFV,
/// repeatedly split the cluster with the largest SSE by 2-means (k-means++ seeding, `restarts`
/// runs, the lowest SSE wins) until there are K clusters.
///
/// Each cluster is a contiguous block of rows of a permuted working copy, so a Lloyd step of
/// 2-means is two sgemv passes over the block: the sign of x·(c₁ − c₂) − (‖c₁‖² − ‖c₂‖²)/2 assigns
/// x, and Xᵀ·1[x ∈ cluster 1] gives the new cluster-1 sum (cluster 2 = total − cluster 1).
public enum BisectingKMeans {
    /// The clustering: K centroids (not normalised), the cluster of every PFV, and the SSE.
    public struct Result: Sendable {
        /// Cluster means, K×C, in the order the clusters were made.
        public var centroids: Matrix
        /// Cluster index of every input row.
        public var labels: [Int]
        /// Σ over PFVs of ‖x − centroid‖² (scikit-learn `inertia_`).
        public var sse: Double
        /// Rows per cluster.
        public var sizes: [Int]
    }

    private struct Cluster {
        var lo: Int, hi: Int
        var centroid: [Float]
        var sse: Double
        var splittable: Bool
    }

    /// Clusters the rows of `pfvs` (N×C) into `k` clusters. Throws when K < 1, K > N, or the PFVs
    /// hold fewer than K distinct points (duplicates cannot be split apart).
    /// `progress(clusters, k)` is called after every split.
    public static func fit(
        _ pfvs: Matrix, k: Int, options: ConceptOptions, progress: ((_ done: Int, _ total: Int) -> Void)? = nil
    ) throws -> Result {
        let n = pfvs.rows, c = pfvs.cols
        guard k >= 1 else { throw ConceptError.invalidRequest("k-means: K must be ≥ 1, got \(k)") }
        guard k <= n else { throw ConceptError.invalidRequest("k-means: K = \(k) exceeds the number of PFVs (\(n))") }
        guard options.restarts >= 1 else { throw ConceptError.invalidRequest("k-means: restarts must be ≥ 1, got \(options.restarts)") }
        var work = pfvs.data
        var index = Array(0..<n)
        var rng = SamplingRNG(seed: options.seed)
        var clusters: [Cluster] = []
        var norms: [Double] = []
        let tolerance: Double = work.withUnsafeBufferPointer { p in
            norms = Linalg.rowSquaredNorms(p.baseAddress!, rows: n, cols: c)
            let mean = Linalg.columnMeans(p.baseAddress!, rows: n, cols: c)
            let sse = Linalg.sumSquaredDeviation(p.baseAddress!, rows: n, cols: c, from: mean)
            clusters.append(Cluster(lo: 0, hi: n, centroid: mean, sse: sse, splittable: true))
            return options.kmeansTolerance * sse / Double(n * c)
        }
        while clusters.count < k {
            var pick = -1
            for (i, cl) in clusters.enumerated() where cl.splittable && cl.hi - cl.lo >= 2 && cl.sse > 0 {
                if pick < 0 || cl.sse > clusters[pick].sse { pick = i }
            }
            guard pick >= 0 else {
                throw ConceptError.invalidRequest(
                    "k-means: the \(n) PFVs form only \(clusters.count) distinct clusters; cannot make K = \(k) concepts (lower K)")
            }
            let parent = clusters[pick]
            let split = work.withUnsafeMutableBufferPointer { p in
                bisect(p.baseAddress!, lo: parent.lo, hi: parent.hi, cols: c, norms: &norms, index: &index,
                       tolerance: tolerance, options: options, rng: &rng)
            }
            guard let mid = split else { clusters[pick].splittable = false; continue }
            let children = work.withUnsafeBufferPointer { p in
                [(parent.lo, mid), (mid, parent.hi)].map { lo, hi in
                    let block = p.baseAddress! + lo * c
                    let mean = Linalg.columnMeans(block, rows: hi - lo, cols: c)
                    let sse = Linalg.sumSquaredDeviation(block, rows: hi - lo, cols: c, from: mean)
                    return Cluster(lo: lo, hi: hi, centroid: mean, sse: sse, splittable: true)
                }
            }
            clusters[pick] = children[0]
            clusters.append(children[1])
            progress?(clusters.count, k)
        }
        var labels = [Int](repeating: 0, count: n)
        var centroids = Matrix(rows: k, cols: c)
        for (j, cl) in clusters.enumerated() {
            for r in cl.lo..<cl.hi { labels[index[r]] = j }
            for i in 0..<c { centroids.data[j * c + i] = cl.centroid[i] }
        }
        return Result(centroids: centroids, labels: labels, sse: clusters.reduce(0) { $0 + $1.sse },
                      sizes: clusters.map { $0.hi - $0.lo })
    }

    /// Splits rows lo..<hi by 2-means and partitions them in place (cluster 1 first, `norms` and
    /// `index` permuted along). Returns the first row of cluster 2, or nil when every run left a
    /// cluster empty (all points equal).
    private static func bisect(
        _ x: UnsafeMutablePointer<Float>, lo: Int, hi: Int, cols c: Int, norms: inout [Double], index: inout [Int],
        tolerance: Double, options: ConceptOptions, rng: inout SamplingRNG
    ) -> Int? {
        let n = hi - lo
        let block = x + lo * c
        let blockNorms = Array(norms[lo..<hi])
        var total = [Float](repeating: 0, count: c)
        let ones = [Float](repeating: 1, count: n)
        cblas_sgemv(CblasRowMajor, CblasTrans, Int32(n), Int32(c), 1, block, Int32(c), ones, 1, 0, &total, 1)
        var best: (labels: [Bool], inertia: Double)?
        for _ in 0..<options.restarts {
            guard let (c1, c2) = seedPlusPlus(block, rows: n, cols: c, norms: blockNorms, rng: &rng),
                  let run = lloyd(block, rows: n, cols: c, c1: c1, c2: c2, total: total, norms: blockNorms,
                                  tolerance: tolerance, maxIterations: options.kmeansMaxIterations)
            else { continue }
            if best == nil || run.inertia < best!.inertia { best = run }
        }
        guard var labels = best?.labels else { return nil }
        // Partition: cluster-1 rows to the front.
        var i = 0, j = n - 1
        while i <= j {
            if labels[i] { i += 1; continue }
            if i != j {
                cblas_sswap(Int32(c), block + i * c, 1, block + j * c, 1)
                labels.swapAt(i, j)
                index.swapAt(lo + i, lo + j)
                norms.swapAt(lo + i, lo + j)
            }
            j -= 1
        }
        return lo + i
    }

    /// k-means++ seeding of two centres with scikit-learn's greedy local trials (2 + ⌊ln 2⌋ = 2).
    /// Nil when all rows coincide with the first centre.
    private static func seedPlusPlus(
        _ x: UnsafeMutablePointer<Float>, rows n: Int, cols c: Int, norms: [Double], rng: inout SamplingRNG
    ) -> ([Float], [Float])? {
        let first = min(n - 1, Int(rng.unit() * Double(n)))
        let c1 = Array(UnsafeBufferPointer(start: x + first * c, count: c))
        let d1 = squaredDistances(x, rows: n, cols: c, norms: norms, to: c1)
        var cumulative = [Double](repeating: 0, count: n)
        var acc = 0.0
        for i in 0..<n { acc += d1[i]; cumulative[i] = acc }
        guard acc > 0 else { return nil }
        var bestCandidate = -1, bestPotential = Double.infinity
        for _ in 0..<2 {
            let target = rng.unit() * acc
            var lo = 0, hi = n - 1
            while lo < hi { let m = (lo + hi) / 2; if cumulative[m] <= target { lo = m + 1 } else { hi = m } }
            let cand = Array(UnsafeBufferPointer(start: x + lo * c, count: c))
            let dc = squaredDistances(x, rows: n, cols: c, norms: norms, to: cand)
            var potential = 0.0
            for i in 0..<n { potential += min(d1[i], dc[i]) }
            if potential < bestPotential { bestPotential = potential; bestCandidate = lo }
        }
        return (c1, Array(UnsafeBufferPointer(start: x + bestCandidate * c, count: c)))
    }

    /// ‖x_i − y‖² for every row (one sgemv), clamped at 0.
    private static func squaredDistances(
        _ x: UnsafeMutablePointer<Float>, rows n: Int, cols c: Int, norms: [Double], to y: [Float]
    ) -> [Double] {
        var dots = [Float](repeating: 0, count: n)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(n), Int32(c), 1, x, Int32(c), y, 1, 0, &dots, 1)
        let yy = Double(cblas_sdot(Int32(c), y, 1, y, 1))
        return (0..<n).map { max(0, norms[$0] - 2 * Double(dots[$0]) + yy) }
    }

    /// Lloyd iterations of 2-means from centres c1, c2, with scikit-learn's stopping rule (labels
    /// unchanged, or squared centre shift ≤ tolerance). Nil when a cluster becomes empty.
    private static func lloyd(
        _ x: UnsafeMutablePointer<Float>, rows n: Int, cols c: Int, c1 start1: [Float], c2 start2: [Float],
        total: [Float], norms: [Double], tolerance: Double, maxIterations: Int
    ) -> (labels: [Bool], inertia: Double)? {
        var c1 = start1, c2 = start2
        var labels = [Bool](repeating: false, count: n)
        var scores = [Float](repeating: 0, count: n)
        var indicator = [Float](repeating: 0, count: n)
        var sum1 = [Float](repeating: 0, count: c)
        var n1 = 0
        var moved: [Int] = []
        var converged = false
        func assign() -> Int {
            var w = c1
            for i in 0..<c { w[i] -= c2[i] }
            let t = (cblas_sdot(Int32(c), c1, 1, c1, 1) - cblas_sdot(Int32(c), c2, 1, c2, 1)) / 2
            cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(n), Int32(c), 1, x, Int32(c), w, 1, 0, &scores, 1)
            moved.removeAll(keepingCapacity: true)
            n1 = 0
            for i in 0..<n {
                let l = scores[i] >= t
                if l != labels[i] { moved.append(i); labels[i] = l }
                indicator[i] = l ? 1 : 0
                n1 += l ? 1 : 0
            }
            return moved.count
        }
        // Cluster-1 sum: one sgemv the first time (and when many rows moved), else ± the moved rows.
        var sumIsFresh = false
        func means() -> Bool {
            guard n1 > 0, n1 < n else { return false }
            if !sumIsFresh || moved.count * 8 > n {
                cblas_sgemv(CblasRowMajor, CblasTrans, Int32(n), Int32(c), 1, x, Int32(c), indicator, 1, 0, &sum1, 1)
                sumIsFresh = true
            } else {
                for i in moved { cblas_saxpy(Int32(c), labels[i] ? 1 : -1, x + i * c, 1, &sum1, 1) }
            }
            let inv1 = 1 / Float(n1), inv2 = 1 / Float(n - n1)
            for i in 0..<c { c1[i] = sum1[i] * inv1; c2[i] = (total[i] - sum1[i]) * inv2 }
            return true
        }
        for iteration in 0..<max(1, maxIterations) {
            let old1 = c1, old2 = c2
            let changed = assign()
            guard means() else { return nil }
            if iteration > 0 && changed == 0 { converged = true; break }
            var shift = 0.0
            for i in 0..<c {
                let a = Double(c1[i] - old1[i]), b = Double(c2[i] - old2[i])
                shift += a * a + b * b
            }
            if shift <= tolerance { break }
        }
        if !converged {
            _ = assign()
            guard means() else { return nil }
        }
        let s1 = Double(cblas_sdot(Int32(c), sum1, 1, sum1, 1))
        var s2 = 0.0
        for i in 0..<c { let v = Double(total[i] - sum1[i]); s2 += v * v }
        let inertia = norms.reduce(0, +) - s1 / Double(n1) - s2 / Double(n - n1)
        return (labels, inertia)
    }
}
