/// Which images an aggregate is taken over: all, those with a given label, or those with a given
/// predicted class.
public enum ImageGroup: Sendable, Hashable, CustomStringConvertible {
    case all
    case label(Int)
    case prediction(Int)

    /// The database's `grouping` column value.
    public var kind: String {
        switch self {
        case .all: return "all"
        case .label: return "label"
        case .prediction: return "prediction"
        }
    }

    /// The database's `group_class` column value (−1 for all).
    public var groupClass: Int {
        switch self {
        case .all: return -1
        case .label(let c), .prediction(let c): return c
        }
    }

    public init?(kind: String, groupClass: Int) {
        switch kind {
        case "all": self = .all
        case "label": self = .label(groupClass)
        case "prediction": self = .prediction(groupClass)
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case .all: return "all images"
        case .label(let c): return "images labelled \(c)"
        case .prediction(let c): return "images predicted \(c)"
        }
    }
}

/// One block of edges aggregated over all images and per class (by label and by prediction).
/// Per-class blocks are created on first use.
///
/// For concept → class edges (`ownClassOnly`), a class's blocks keep only that class's column
/// (edges q → c over the images labelled / predicted c), so memory grows as K·C, not K·C².
public struct EdgeGroups: Sendable, Equatable {
    public var all: EdgeBlock
    public let ownClassOnly: Bool
    /// Stored per-class blocks: rows × columns, or rows × 1 (column c only) when `ownClassOnly`.
    public var byLabel: [Int: EdgeBlock] = [:]
    public var byPrediction: [Int: EdgeBlock] = [:]

    public init(rows: Int, columns: Int, ownClassOnly: Bool = false) {
        all = EdgeBlock(rows: rows, columns: columns)
        self.ownClassOnly = ownClassOnly
    }

    public var rows: Int { all.rows }
    public var columns: Int { all.columns }

    /// Shape of the stored block of a group: its column count and the target its column 0 maps to.
    public func storedShape(_ group: ImageGroup) -> (columns: Int, firstColumn: Int) {
        if case .all = group { return (columns, 0) }
        return ownClassOnly ? (1, group.groupClass) : (columns, 0)
    }

    /// Adds one image's matrix to the overall block and its label's and prediction's blocks.
    public mutating func add(_ matrix: EdgeMatrix, label: Int, prediction: Int) {
        let r = rows, c = ownClassOnly ? 1 : columns  // default blocks are built only for new classes
        all.add(matrix)
        byLabel[label, default: EdgeBlock(rows: r, columns: c)].add(ownClassOnly ? matrix.column(label) : matrix)
        byPrediction[prediction, default: EdgeBlock(rows: r, columns: c)]
            .add(ownClassOnly ? matrix.column(prediction) : matrix)
    }

    public mutating func merge(_ other: EdgeGroups) {
        let r = rows, c = ownClassOnly ? 1 : columns
        all.merge(other.all)
        for (k, block) in other.byLabel { byLabel[k, default: EdgeBlock(rows: r, columns: c)].merge(block) }
        for (k, block) in other.byPrediction { byPrediction[k, default: EdgeBlock(rows: r, columns: c)].merge(block) }
    }

    /// The block of a group as rows × columns; an empty block when no image of that group was seen.
    /// With `ownClassOnly`, only column c of class c's blocks is nonzero.
    public func block(_ group: ImageGroup) -> EdgeBlock {
        let stored: EdgeBlock?
        switch group {
        case .all: return all
        case .label(let c): stored = byLabel[c]
        case .prediction(let c): stored = byPrediction[c]
        }
        var full = EdgeBlock(rows: rows, columns: columns)
        guard let stored else { return full }
        guard ownClassOnly else { return stored }
        let c = group.groupClass
        guard c >= 0, c < columns else { return full }
        for s in 0..<rows {
            full.set(source: s, target: c, activeCount: stored.activeCount[s], sum: stored.sum[s],
                     sumOfSquares: stored.sumOfSquares[s], sumOfAbs: stored.sumOfAbs[s])
        }
        return full
    }

    /// Every stored block with its group and the target of its column 0, overall first, then
    /// classes ascending.
    public var blocks: [(group: ImageGroup, block: EdgeBlock, firstColumn: Int)] {
        let first = { (g: ImageGroup) in self.storedShape(g).firstColumn }
        return [(ImageGroup.all, all, 0)]
            + byLabel.sorted { $0.key < $1.key }.map { (ImageGroup.label($0.key), $0.value, first(.label($0.key))) }
            + byPrediction.sorted { $0.key < $1.key }.map {
                (ImageGroup.prediction($0.key), $0.value, first(.prediction($0.key)))
            }
    }

    /// Sets the stored block of a group (shape `storedShape(group)`; used when loading).
    public mutating func set(_ block: EdgeBlock, for group: ImageGroup) {
        switch group {
        case .all: all = block
        case .label(let c): byLabel[c] = block
        case .prediction(let c): byPrediction[c] = block
        }
    }

    /// Creates empty blocks for the given classes where none exist yet.
    mutating func ensureBlocks(label: Int?, prediction: Int?) {
        let r = rows, c = ownClassOnly ? 1 : columns
        if let label, byLabel[label] == nil { byLabel[label] = EdgeBlock(rows: r, columns: c) }
        if let prediction, byPrediction[prediction] == nil { byPrediction[prediction] = EdgeBlock(rows: r, columns: c) }
    }
}
