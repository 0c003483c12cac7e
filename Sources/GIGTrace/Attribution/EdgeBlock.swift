/// Sums and counts of GIG edge values over a set of images, for every edge of one block
/// (sources × targets, row-major). Sums are Double and counts Int, so blocks of disjoint image
/// sets add up exactly to the block of their union (up to floating-point summation order).
public struct EdgeBlock: Sendable, Equatable {
    public let rows: Int
    public let columns: Int
    /// Σ A, Σ A², Σ |A| over the images, per edge.
    public var sum: [Double]
    public var sumOfSquares: [Double]
    public var sumOfAbs: [Double]
    /// Number of images where the edge is active (A ≠ 0).
    public var activeCount: [Int]

    public init(rows: Int, columns: Int) {
        self.rows = rows
        self.columns = columns
        sum = Array(repeating: 0, count: rows * columns)
        sumOfSquares = sum
        sumOfAbs = sum
        activeCount = Array(repeating: 0, count: rows * columns)
    }

    /// Adds one image's matrix (same shape).
    public mutating func add(_ matrix: EdgeMatrix) {
        for i in 0..<matrix.values.count {
            let a = Double(matrix.values[i])
            if a == 0 { continue }
            sum[i] += a
            sumOfSquares[i] += a * a
            sumOfAbs[i] += abs(a)
            activeCount[i] += 1
        }
    }

    /// Adds another block over a disjoint image set (same shape).
    public mutating func merge(_ other: EdgeBlock) {
        for i in 0..<sum.count {
            sum[i] += other.sum[i]
            sumOfSquares[i] += other.sumOfSquares[i]
            sumOfAbs[i] += other.sumOfAbs[i]
            activeCount[i] += other.activeCount[i]
        }
    }

    /// Sets the sums of one edge (used when loading from the database).
    mutating func set(source: Int, target: Int, activeCount: Int, sum: Double, sumOfSquares: Double, sumOfAbs: Double) {
        let i = source * columns + target
        self.activeCount[i] = activeCount
        self.sum[i] = sum
        self.sumOfSquares[i] = sumOfSquares
        self.sumOfAbs[i] = sumOfAbs
    }

    /// Statistics of edge (source, target) over `images` images (the group's size, zeros included).
    public func statistics(source: Int, target: Int, images: Int) -> EdgeStatistics {
        let i = source * columns + target
        return EdgeStatistics(sum: sum[i], sumOfSquares: sumOfSquares[i], sumOfAbs: sumOfAbs[i],
                              activeCount: activeCount[i], images: images)
    }

    /// Mean A per edge over `images` images (row-major, zeros when there are no images).
    public func means(images: Int) -> [Double] {
        images > 0 ? sum.map { $0 / Double(images) } : Array(repeating: 0, count: sum.count)
    }
}

/// Mean, spread and a 95 % confidence interval of one edge over the images of a group.
/// With fewer than two images the interval collapses to the mean and is not significant.
///
/// Images where the edge is inactive count as A = 0. The interval is mean ± t₀.₉₇₅(n−1)·s/√n with
/// the sample standard deviation s; an edge is significant when the interval excludes 0.
public struct EdgeStatistics: Sendable, Equatable, Codable {
    public var images: Int
    public var activeCount: Int
    public var mean: Double
    public var meanAbs: Double
    public var std: Double
    public var ciLow: Double
    public var ciHigh: Double

    public init(sum: Double, sumOfSquares: Double, sumOfAbs: Double, activeCount: Int, images: Int) {
        self.images = images
        self.activeCount = activeCount
        guard images > 0 else {
            mean = 0; meanAbs = 0; std = 0; ciLow = 0; ciHigh = 0
            return
        }
        let n = Double(images)
        mean = sum / n
        meanAbs = sumOfAbs / n
        if images > 1 {
            let variance = max(0, (sumOfSquares - sum * sum / n) / (n - 1))
            std = variance.squareRoot()
            let half = Self.tQuantile975(degreesOfFreedom: images - 1) * std / n.squareRoot()
            ciLow = mean - half
            ciHigh = mean + half
        } else {
            std = 0
            ciLow = mean
            ciHigh = mean
        }
    }

    /// The interval excludes zero (never with fewer than two images: no interval exists then).
    public var isSignificant: Bool { images > 1 && (ciLow > 0 || ciHigh < 0) }

    /// Student t quantile at 0.975: exact table for 1…30 degrees of freedom, the Cornish–Fisher
    /// expansion around the normal 1.959964 above (error < 1e-4 there).
    public static func tQuantile975(degreesOfFreedom df: Int) -> Double {
        let table: [Double] = [12.706205, 4.302653, 3.182446, 2.776445, 2.570582, 2.446912, 2.364624, 2.306004,
                               2.262157, 2.228139, 2.200985, 2.178813, 2.160369, 2.144787, 2.131450, 2.119905,
                               2.109816, 2.100922, 2.093024, 2.085963, 2.079614, 2.073873, 2.068658, 2.063899,
                               2.059539, 2.055529, 2.051831, 2.048407, 2.045230, 2.042272]
        if df >= 1 && df <= table.count { return table[df - 1] }
        let z = 1.959963984540054, n = Double(max(df, 1))
        let z3 = z * z * z, z5 = z3 * z * z
        return z + (z3 + z) / (4 * n) + (5 * z5 + 16 * z3 + 3 * z) / (96 * n * n)
    }
}
