import Foundation
import TestSupport
import Testing
@testable import GIGTrace

/// The sanity-check metrics against SciPy and scikit-image, run at test time on seeded random
/// arrays (with ties, for the rank correlations): agreement to 1e-6.
@Suite struct MapMetricsTests {
    /// Seeded arrays: a, b continuous 20×24 maps; r, s rounded to 1 decimal (ties).
    static func arrays() -> (a: [Double], b: [Double], r: [Double], s: [Double]) {
        var g = SystemRandomNumberGenerator()
        _ = g.next()
        var state: UInt64 = 12345
        func next() -> Double {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Double(state >> 11) * 0x1p-53
        }
        let a = (0..<480).map { _ in next() }
        let b = a.enumerated().map { 0.6 * $0.element + 0.4 * next() + ($0.offset % 7 == 0 ? 0.3 : 0) }
        let r = (0..<300).map { _ in (next() * 10).rounded() / 10 }
        let s = r.map { ($0 + next() * 0.5).rounded() }
        return (a, b, r, s)
    }

    static func python(_ body: String, _ arrays: [[Double]]) throws -> [Double] {
        let lists = arrays.map { "[" + $0.map { String($0) }.joined(separator: ",") + "]" }.joined(separator: ",")
        let out = try runPython("""
        import numpy as np, scipy.stats as st
        from skimage.metrics import structural_similarity
        from skimage.feature import hog
        arrays = [np.array(v, dtype=np.float64) for v in [\(lists)]]
        \(body)
        """)
        return out.split(whereSeparator: \.isWhitespace).compactMap { Double($0) }
    }

    @Test func rankCorrelationsEqualSciPy() throws {
        let (a, b, r, s) = Self.arrays()
        let expected = try Self.python("""
        a, b, r, s = arrays
        for x, y in [(a, b), (r, s)]:
            print(repr(float(st.spearmanr(x, y).statistic)), repr(float(st.kendalltau(x, y).statistic)))
        """, [a, b, r, s])
        let mine = [MapMetrics.spearman(a, b), MapMetrics.kendall(a, b), MapMetrics.spearman(r, s), MapMetrics.kendall(r, s)]
        #expect(expected.count == 4)
        for (x, y) in zip(mine, expected) { #expect(abs(x - y) < 1e-6, "\(x) vs SciPy \(y)") }
        #expect(MapMetrics.spearman([1, 1, 1], [1, 2, 3]).isNaN)
    }

    @Test func ssimEqualsScikitImage() throws {
        let (a, b, _, _) = Self.arrays()
        let expected = try Self.python("""
        a, b = arrays[0].reshape(20, 24), arrays[1].reshape(20, 24)
        print(repr(float(structural_similarity(a, b, gaussian_weights=True, sigma=1.5, data_range=a.max() - a.min()))))
        print(repr(float(structural_similarity(a, a, gaussian_weights=True, sigma=1.5, data_range=1.0))))
        """, [a, b])
        let range = (a.max() ?? 0) - (a.min() ?? 0)
        let mine = [MapMetrics.ssim(a, b, height: 20, width: 24, dataRange: range), MapMetrics.ssim(a, a, height: 20, width: 24, dataRange: 1)]
        #expect(expected.count == 2)
        for (x, y) in zip(mine, expected) { #expect(abs(x - y) < 1e-6, "\(x) vs scikit-image \(y)") }
    }

    @Test func hogEqualsScikitImage() throws {
        let (a, _, _, _) = Self.arrays()
        let big = (0..<(48 * 40)).map { i in a[i % a.count] * Double(i % 13) }
        let expected = try Self.python("""
        m = arrays[0].reshape(48, 40)
        for v in hog(m, orientations=9, pixels_per_cell=(16, 16), cells_per_block=(1, 1), block_norm="L2-Hys"): print(repr(float(v)))
        """, [big])
        let mine = MapMetrics.hog(big, height: 48, width: 40, cell: 16)
        #expect(mine.count == expected.count)
        for (x, y) in zip(mine, expected) { #expect(abs(x - y) < 1e-6, "\(x) vs scikit-image \(y)") }
    }

    @Test func percentileAndNormalisationsByHand() {
        // numpy.percentile([0, 1, …, 100], 99) = 99; the signed map divides by it and clips.
        let m = (0...100).map(Double.init)
        #expect(MapMetrics.percentile(m, 99) == 99)
        let signed = MapMetrics.normalizedSigned(m.map { -$0 })
        #expect(signed[100] == -1 && signed[99] == -1 && abs(signed[50] + 50.0 / 99) < 1e-12)
        #expect(MapMetrics.normalizedAbsolute(m)[33] == 33.0 / 99)
    }
}
