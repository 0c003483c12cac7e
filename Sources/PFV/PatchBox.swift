import Core

/// An axis-aligned box on an H×W image: rows `top..<top+height`, columns `left..<left+width`.
/// The same box as corners, `x0..<x1` columns and `y0..<y1` rows, is how the trace stores it and
/// how JSON writes it.
///
///     let box = PatchBox(x0: 2, y0: 3, x1: 10, y1: 12)   // top 3, left 2, height 9, width 8
public struct PatchBox: Sendable, Equatable, Hashable, Codable, CustomStringConvertible {
    public var top: Int
    public var left: Int
    public var height: Int
    public var width: Int

    public init(top: Int, left: Int, height: Int, width: Int) {
        self.top = top
        self.left = left
        self.height = height
        self.width = width
    }

    /// The box from its corners: columns `x0..<x1`, rows `y0..<y1`.
    public init(x0: Int, y0: Int, x1: Int, y1: Int) {
        self.init(top: y0, left: x0, height: y1 - y0, width: x1 - x0)
    }

    /// First column.
    public var x0: Int { left }
    /// First row.
    public var y0: Int { top }
    /// One past the last column.
    public var x1: Int { left + width }
    /// One past the last row.
    public var y1: Int { top + height }

    private enum CodingKeys: String, CodingKey { case x0, y0, x1, y1 }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(x0: try c.decode(Int.self, forKey: .x0), y0: try c.decode(Int.self, forKey: .y0),
                  x1: try c.decode(Int.self, forKey: .x1), y1: try c.decode(Int.self, forKey: .y1))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(x0, forKey: .x0)
        try c.encode(y0, forKey: .y0)
        try c.encode(x1, forKey: .x1)
        try c.encode(y1, forKey: .y1)
    }

    public var description: String { "rows \(top)..<\(top + height), columns \(left)..<\(left + width)" }

    /// The exemplar box of a receptive-field map (METHOD §2): rank the pixels by |map|, largest
    /// first (ties by row-major index), take the shortest prefix whose |map| sum reaches `mass` of
    /// the total, and return the smallest axis-aligned box containing those pixels. A map with no
    /// mass (all zero) gives the whole image. Throws on a size mismatch or `mass` outside (0, 1].
    public static func covering(_ map: [Float], height: Int, width: Int, mass: Double = 0.9) throws -> PatchBox {
        guard height > 0, width > 0, map.count == height * width else {
            throw PFVError.shapeMismatch("receptive-field map of \(map.count) values for a \(height)×\(width) image")
        }
        guard mass > 0 && mass <= 1 else {
            throw PFVError.invalidRequest("patch mass must be in (0, 1], got \(mass)")
        }
        let magnitude = map.map { Double(abs($0)) }
        let total = magnitude.reduce(0, +)
        guard total > 0, total.isFinite else { return PatchBox(top: 0, left: 0, height: height, width: width) }
        let order = magnitude.indices.sorted { magnitude[$0] != magnitude[$1] ? magnitude[$0] > magnitude[$1] : $0 < $1 }
        var top = height, left = width, bottom = -1, right = -1
        var sum = 0.0
        for i in order {
            let r = i / width, c = i % width
            top = min(top, r); bottom = max(bottom, r)
            left = min(left, c); right = max(right, c)
            sum += magnitude[i]
            if sum >= mass * total * (1 - 1e-12) { break }
        }
        return PatchBox(top: top, left: left, height: bottom - top + 1, width: right - left + 1)
    }
}
