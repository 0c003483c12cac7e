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
public struct EdgeGroups: Sendable, Equatable {
    public var all: EdgeBlock
    public var byLabel: [Int: EdgeBlock] = [:]
    public var byPrediction: [Int: EdgeBlock] = [:]

    public init(rows: Int, columns: Int) {
        all = EdgeBlock(rows: rows, columns: columns)
    }

    public var rows: Int { all.rows }
    public var columns: Int { all.columns }

    /// Adds one image's matrix to the overall block and its label's and prediction's blocks.
    public mutating func add(_ matrix: EdgeMatrix, label: Int, prediction: Int) {
        let r = rows, c = columns  // the default block is built only when the class is new
        all.add(matrix)
        byLabel[label, default: EdgeBlock(rows: r, columns: c)].add(matrix)
        byPrediction[prediction, default: EdgeBlock(rows: r, columns: c)].add(matrix)
    }

    public mutating func merge(_ other: EdgeGroups) {
        let r = rows, c = columns
        all.merge(other.all)
        for (k, block) in other.byLabel { byLabel[k, default: EdgeBlock(rows: r, columns: c)].merge(block) }
        for (k, block) in other.byPrediction { byPrediction[k, default: EdgeBlock(rows: r, columns: c)].merge(block) }
    }

    /// The block of a group; an empty block when no image of that group was seen.
    public func block(_ group: ImageGroup) -> EdgeBlock {
        switch group {
        case .all: return all
        case .label(let c): return byLabel[c] ?? EdgeBlock(rows: rows, columns: columns)
        case .prediction(let c): return byPrediction[c] ?? EdgeBlock(rows: rows, columns: columns)
        }
    }

    /// Every stored block with its group, overall first, then classes ascending.
    public var blocks: [(group: ImageGroup, block: EdgeBlock)] {
        [(ImageGroup.all, all)]
            + byLabel.sorted { $0.key < $1.key }.map { (ImageGroup.label($0.key), $0.value) }
            + byPrediction.sorted { $0.key < $1.key }.map { (ImageGroup.prediction($0.key), $0.value) }
    }

    /// Sets the block of a group (used when loading from the database).
    public mutating func set(_ block: EdgeBlock, for group: ImageGroup) {
        switch group {
        case .all: all = block
        case .label(let c): byLabel[c] = block
        case .prediction(let c): byPrediction[c] = block
        }
    }

    /// Creates empty blocks for the given classes where none exist yet.
    mutating func ensureBlocks(label: Int?, prediction: Int?) {
        if let label, byLabel[label] == nil { byLabel[label] = EdgeBlock(rows: rows, columns: columns) }
        if let prediction, byPrediction[prediction] == nil {
            byPrediction[prediction] = EdgeBlock(rows: rows, columns: columns)
        }
    }
}
