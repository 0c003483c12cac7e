/// Summary statistics used in reports and benchmarks.
public enum Statistics {
    /// The median of `values` (the mean of the two middle values for an even count; 0 when empty).
    ///
    ///     Statistics.median([3, 1, 2, 10])   // 2.5
    public static func median(_ values: [Double]) -> Double {
        guard !values.isEmpty else { return 0 }
        let s = values.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }
}
