import Core

/// A growing collection of PFVs of one layer: vectors stored as one row-major `count × channels`
/// matrix (ready for concept learning), with one `PFVRecord` per row.
public struct PFVSet: Sendable {
    public let layer: String
    public let channels: Int
    /// Row i holds the C values of PFV i.
    public private(set) var vectors: [Float] = []
    public private(set) var records: [PFVRecord] = []

    public init(layer: String, channels: Int) {
        self.layer = layer
        self.channels = channels
    }

    /// Number of PFVs.
    public var count: Int { records.count }

    /// The C values of PFV `i`.
    public func vector(_ i: Int) -> ArraySlice<Float> {
        vectors[(i * channels)..<((i + 1) * channels)]
    }

    /// All vectors as a `[count, channels]` tensor.
    public var matrix: Tensor { Tensor(uncheckedShape: [count, channels], data: vectors) }

    /// Appends one PFV; throws when `vector` does not have `channels` values.
    public mutating func append<V: Collection>(_ vector: V, record: PFVRecord) throws where V.Element == Float {
        guard vector.count == channels else {
            throw PFVError.shapeMismatch("PFV of \(vector.count) channels added to a set of \(channels)-channel PFVs of '\(layer)'")
        }
        vectors.append(contentsOf: vector)
        records.append(record)
    }
}
