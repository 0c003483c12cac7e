/// What a `TraceRun` did: whether it finished, how many images, how fast, and the per-image
/// completeness errors (METHOD §4) of every image in the trace.
public struct TraceOutcome: Sendable {
    /// False when the run was stopped early (the partial file holds a checkpoint to resume from).
    public var finished: Bool
    /// Where the trace is: the output path, or its `.partial` file when not finished.
    public var path: String
    /// Images of this shard, those already traced before this run, and those traced by it.
    public var shardImages: Int
    public var resumedImages: Int
    public var tracedImages: Int
    public var seconds: Double
    /// (image index, relative completeness error) of every image in the trace when finished,
    /// of this run's images otherwise.
    public var completeness: [(image: Int, error: Double)]
    /// Notes for the user (SRD fallbacks and the like).
    public var warnings: [String]

    /// Median relative completeness error (0 when no image).
    public var medianCompletenessError: Double {
        let e = completeness.map(\.error).sorted()
        guard !e.isEmpty else { return 0 }
        return e.count % 2 == 1 ? e[e.count / 2] : (e[e.count / 2 - 1] + e[e.count / 2]) / 2
    }

    /// The `count` images with the largest completeness error, worst first.
    public func worstImages(_ count: Int = 5) -> [(image: Int, error: Double)] {
        Array(completeness.sorted { $0.error != $1.error ? $0.error > $1.error : $0.image < $1.image }.prefix(count))
    }
}
