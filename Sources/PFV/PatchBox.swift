/// An axis-aligned box on an H×W image: rows `top..<top+height`, columns `left..<left+width`.
public struct PatchBox: Sendable, Equatable, CustomStringConvertible {
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

    public var description: String { "rows \(top)..<\(top + height), columns \(left)..<\(left + width)" }

    /// The exemplar box of a receptive-field map (METHOD §2): rank the pixels by |map|, largest
    /// first (ties by row-major index), take the shortest prefix whose |map| sum reaches `mass` of
    /// the total, and return the smallest axis-aligned box containing those pixels. A map with no
    /// mass (all zero) gives the whole image. Throws on a size mismatch or `mass` outside (0, 1].
    public static func covering(_ map: [Float], height: Int, width: Int, mass: Double = 0.9) throws -> PatchBox {
        guard height > 0, width > 0, map.count == height * width else {
            throw CNNError.shapeMismatch("receptive-field map of \(map.count) values for a \(height)×\(width) image")
        }
        guard mass > 0 && mass <= 1 else {
            throw CNNError.invalidInput("patch mass must be in (0, 1], got \(mass)")
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
