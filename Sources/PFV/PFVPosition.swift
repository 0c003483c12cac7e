/// A spatial position (row `h`, column `w`) on a traced layer's H×W grid.
public struct PFVPosition: Sendable, Hashable, CustomStringConvertible {
    public var h: Int
    public var w: Int

    public init(h: Int, w: Int) {
        self.h = h
        self.w = w
    }

    public var description: String { "(\(h), \(w))" }
}
