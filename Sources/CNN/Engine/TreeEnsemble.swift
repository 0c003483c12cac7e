import Core
import Foundation

/// An ONNX-ML tree ensemble (`ai.onnx.ml` `TreeEnsembleClassifier` / `TreeEnsembleRegressor`),
/// parsed once at load into flat node arrays and evaluated as onnxruntime does.
///
/// Input `[N, F]` float; output `[N, W]`: the W target scores (regressor) or class scores
/// (classifier), after the post-transform. A classifier's label output is computed by the
/// separate op `Op.treeLabel` from the same ensemble.
///
/// Trees are piecewise constant in their input, so the engine's gradient through this op is zero
/// (plain IG sees none of its jumps); Generalized IG (docs/METHOD.md §9) uses `splits` to find where
/// the output jumps along a path.
///
/// ```swift
/// let model = try Model.load(path: "gb.onnx")          // a scikit-learn export (skl2onnx)
/// let p = try model.forward(inputs: ["X": rows])["probabilities"]
/// ```
public struct TreeEnsemble: Sendable {
    /// How a branch node compares the feature value x with its threshold θ (true branch when it holds).
    public enum Mode: String, Sendable {
        case leq = "BRANCH_LEQ", lt = "BRANCH_LT", gte = "BRANCH_GTE", gt = "BRANCH_GT"
        case eq = "BRANCH_EQ", neq = "BRANCH_NEQ", leaf = "LEAF"
    }

    /// What is applied to the aggregated scores.
    public enum PostTransform: String, Sendable {
        case none = "NONE", logistic = "LOGISTIC", softmax = "SOFTMAX", softmaxZero = "SOFTMAX_ZERO"
    }

    /// How the trees' leaf weights are combined (regressor only; classifiers sum).
    public enum Aggregate: String, Sendable {
        case sum = "SUM", average = "AVERAGE", min = "MIN", max = "MAX"
    }

    /// Per node: the feature index compared (unused for leaves).
    public let featureIDs: [Int]
    /// Per node: the threshold θ (unused for leaves).
    public let thresholds: [Float]
    /// Per node: the comparison, or `.leaf`.
    public let modes: [Mode]
    /// Per node: index of the true / false child (−1 for leaves).
    let trueChild: [Int]
    let falseChild: [Int]
    /// Per node: a NaN feature value takes the true branch.
    let missingTracksTrue: [Bool]
    /// Leaf weights of node i: `leafTargets/leafWeights[leafStart[i] ..< leafStart[i + 1]]`.
    let leafStart: [Int]
    let leafTargets: [Int]
    let leafWeights: [Float]
    /// Index of each tree's root node.
    public let roots: [Int]
    /// Output width W (targets, or classes).
    public let outputWidth: Int
    /// Number of input features read (largest feature index + 1).
    public let inputWidth: Int
    let baseValues: [Float]
    let aggregate: Aggregate
    public let postTransform: PostTransform
    public let isClassifier: Bool
    /// Integer class labels (classifier; indices 0..<W when the model has string labels).
    public let classLabels: [Int]
    /// The model names its classes with strings: the label output cannot be a float tensor.
    public let hasStringLabels: Bool
    /// Two classes, weights only for class 0: onnxruntime's one-score binary rule.
    let binaryCase: Bool
    let weightsAllPositive: Bool

    /// The split (feature, threshold) pairs of all branch nodes, without repeats, sorted.
    public var splits: [(feature: Int, threshold: Float)] {
        var seen = Set<Pair>()
        for (i, m) in modes.enumerated() where m != .leaf { seen.insert(Pair(feature: featureIDs[i], threshold: thresholds[i])) }
        return seen.sorted { ($0.feature, $0.threshold) < ($1.feature, $1.threshold) }.map { ($0.feature, $0.threshold) }
    }

    private struct Pair: Hashable {
        let feature: Int
        let threshold: Float
    }

    /// Whether any branch node tests equality (`BRANCH_EQ` / `BRANCH_NEQ`): those jump on a set
    /// of measure zero, which Generalized IG's crossing search does not handle.
    public var hasEqualityTests: Bool { modes.contains(.eq) || modes.contains(.neq) }

    // MARK: parsing

    /// Attributes both ensembles share: the node arrays, base values and the post-transform.
    static let nodeAttributes: Set<String> = [
        "nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_values", "nodes_values_as_tensor",
        "nodes_modes", "nodes_truenodeids", "nodes_falsenodeids", "nodes_missing_value_tracks_true",
        "nodes_hitrates", "nodes_hitrates_as_tensor", "base_values", "base_values_as_tensor", "post_transform",
    ]
    static let regressorAttributes = nodeAttributes.union([
        "target_treeids", "target_nodeids", "target_ids", "target_weights", "target_weights_as_tensor",
        "n_targets", "aggregate_function",
    ])
    static let classifierAttributes = nodeAttributes.union([
        "class_treeids", "class_nodeids", "class_ids", "class_weights", "class_weights_as_tensor",
        "classlabels_int64s", "classlabels_strings",
    ])

    /// Parses a `TreeEnsembleClassifier` or `TreeEnsembleRegressor` node. Unknown attributes,
    /// unsupported modes or post-transforms and inconsistent arrays throw, naming node and attribute.
    init(node: OnnxNode) throws {
        let classifier = node.opType == "TreeEnsembleClassifier"
        let r = Attributes(node: node)
        for key in node.attributes.keys.sorted()
            where !(classifier ? TreeEnsemble.classifierAttributes : TreeEnsemble.regressorAttributes).contains(key) {
            throw r.unsupported(key, "is not supported")
        }
        let treeIDs = try r.requiredInts("nodes_treeids")
        let nodeIDs = try r.requiredInts("nodes_nodeids")
        let features = try r.requiredInts("nodes_featureids")
        let values = try r.floats("nodes_values", tensor: "nodes_values_as_tensor")
        let modeNames = try r.strings("nodes_modes")
        let trues = try r.requiredInts("nodes_truenodeids")
        let falses = try r.requiredInts("nodes_falsenodeids")
        let count = treeIDs.count
        guard count > 0 else { throw r.unsupported("nodes_treeids", "is empty (no trees)") }
        for (key, n) in [("nodes_nodeids", nodeIDs.count), ("nodes_featureids", features.count), ("nodes_values", values.count),
                         ("nodes_modes", modeNames.count), ("nodes_truenodeids", trues.count), ("nodes_falsenodeids", falses.count)]
            where n != count {
            throw r.unsupported(key, "has \(n) entries for \(count) nodes")
        }
        let missing = try r.ints("nodes_missing_value_tracks_true") ?? []
        guard missing.isEmpty || missing.count == count else {
            throw r.unsupported("nodes_missing_value_tracks_true", "has \(missing.count) entries for \(count) nodes")
        }
        var modes = [Mode]()
        for m in modeNames {
            guard let mode = Mode(rawValue: m) else { throw r.unsupported("nodes_modes", "has unknown mode '\(m)'") }
            modes.append(mode)
        }
        // (tree id, node id) → flat index.
        var index = [Int64: Int]()
        func key(_ tree: Int, _ node: Int) -> Int64 { Int64(tree) << 32 | Int64(UInt32(truncatingIfNeeded: node)) }
        for i in 0..<count {
            guard index.updateValue(i, forKey: key(treeIDs[i], nodeIDs[i])) == nil else {
                throw r.unsupported("nodes_nodeids", "repeats node \(nodeIDs[i]) of tree \(treeIDs[i])")
            }
        }
        var trueChild = [Int](repeating: -1, count: count), falseChild = trueChild
        var isChild = [Bool](repeating: false, count: count)
        for i in 0..<count where modes[i] != .leaf {
            guard let t = index[key(treeIDs[i], trues[i])], let f = index[key(treeIDs[i], falses[i])] else {
                throw r.unsupported("nodes_truenodeids", "node \(nodeIDs[i]) of tree \(treeIDs[i]) points to a missing node")
            }
            guard features[i] >= 0 else { throw r.unsupported("nodes_featureids", "has negative feature \(features[i])") }
            trueChild[i] = t
            falseChild[i] = f
            isChild[t] = true
            isChild[f] = true
        }
        var roots = [Int](), seenTrees = Set<Int>()
        for i in 0..<count where !isChild[i] {
            guard seenTrees.insert(treeIDs[i]).inserted else {
                throw r.unsupported("nodes_truenodeids", "tree \(treeIDs[i]) has more than one root")
            }
            roots.append(i)
        }
        // Leaf weights.
        let prefix = classifier ? "class" : "target"
        let wTrees = try r.requiredInts("\(prefix)_treeids"), wNodes = try r.requiredInts("\(prefix)_nodeids"), wIDs = try r.requiredInts("\(prefix)_ids")
        let weights = try r.floats("\(prefix)_weights", tensor: "\(prefix)_weights_as_tensor")
        guard wNodes.count == wTrees.count, wIDs.count == wTrees.count, weights.count == wTrees.count else {
            throw r.unsupported("\(prefix)_weights", "arrays have different lengths")
        }
        var labels = [Int](), stringLabels = false
        let width: Int
        if classifier {
            if let ints = try r.ints("classlabels_int64s"), !ints.isEmpty {
                labels = ints
            } else if case .strings(let s)? = node.attributes["classlabels_strings"], !s.isEmpty {
                labels = Array(0..<s.count)
                stringLabels = true
            } else {
                throw r.unsupported("classlabels_int64s", "is missing (neither int64 nor string class labels)")
            }
            width = labels.count
        } else {
            width = try r.int("n_targets", 1)
        }
        guard width > 0 else { throw r.unsupported(classifier ? "classlabels_int64s" : "n_targets", "must be positive") }
        var perNode = [[(Int, Float)]](repeating: [], count: count)
        for k in 0..<wTrees.count {
            guard let i = index[key(wTrees[k], wNodes[k])] else {
                throw r.unsupported("\(prefix)_nodeids", "names node \(wNodes[k]) of tree \(wTrees[k]), which does not exist")
            }
            guard (0..<width).contains(wIDs[k]) else {
                throw r.unsupported("\(prefix)_ids", "has id \(wIDs[k]) outside 0..<\(width)")
            }
            perNode[i].append((wIDs[k], weights[k]))
        }
        var start = [0], targets = [Int](), leafW = [Float]()
        for i in 0..<count {
            for (t, w) in perNode[i] { targets.append(t); leafW.append(w) }
            start.append(targets.count)
        }
        let base = try r.optionalFloats("base_values", tensor: "base_values_as_tensor") ?? []
        guard base.isEmpty || base.count == width || (classifier && width == 2 && base.count == 1) else {
            throw r.unsupported("base_values", "has \(base.count) entries for \(width) outputs")
        }
        let transform = try r.string("post_transform", "NONE")
        guard let post = PostTransform(rawValue: transform) else {
            throw r.unsupported("post_transform", "'\(transform)' is not supported (NONE, LOGISTIC, SOFTMAX, SOFTMAX_ZERO)")
        }
        let aggregateName = classifier ? "SUM" : try r.string("aggregate_function", "SUM")
        guard let aggregate = Aggregate(rawValue: aggregateName) else {
            throw r.unsupported("aggregate_function", "'\(aggregateName)' is unknown")
        }
        let classIDs = Set(wIDs)
        self.featureIDs = features
        self.thresholds = values
        self.modes = modes
        self.trueChild = trueChild
        self.falseChild = falseChild
        self.missingTracksTrue = missing.isEmpty ? [Bool](repeating: false, count: count) : missing.map { $0 != 0 }
        self.leafStart = start
        self.leafTargets = targets
        self.leafWeights = leafW
        self.roots = roots
        self.outputWidth = width
        self.inputWidth = (zip(features, modes).filter { $0.1 != .leaf }.map(\.0).max() ?? -1) + 1
        self.baseValues = base
        self.aggregate = aggregate
        self.postTransform = post
        self.isClassifier = classifier
        self.classLabels = labels
        self.hasStringLabels = stringLabels
        self.binaryCase = classifier && width == 2 && classIDs == [0]
        self.weightsAllPositive = weights.allSatisfy { $0 >= 0 }
    }

    // MARK: evaluation

    /// The leaf reached in the tree rooted at `root` by the feature row `x`.
    @inline(__always)
    func leaf(_ x: UnsafePointer<Float>, root: Int) -> Int {
        var i = root
        while true {
            let m = modes[i]
            if m == .leaf { return i }
            let v = x[featureIDs[i]], t = thresholds[i]
            let goTrue: Bool
            if v.isNaN {
                goTrue = missingTracksTrue[i]
            } else {
                switch m {
                case .leq: goTrue = v <= t
                case .lt: goTrue = v < t
                case .gte: goTrue = v >= t
                case .gt: goTrue = v > t
                case .eq: goTrue = v == t
                case .neq: goTrue = v != t
                case .leaf: goTrue = false
                }
            }
            i = goTrue ? trueChild[i] : falseChild[i]
        }
    }

    /// Aggregated raw scores (before base values and post-transform) and which were set.
    func rawScores(_ x: UnsafePointer<Float>) -> (scores: [Double], has: [Bool]) {
        var s = [Double](repeating: 0, count: outputWidth), has = [Bool](repeating: false, count: outputWidth)
        for root in roots {
            let l = leaf(x, root: root)
            for k in leafStart[l]..<leafStart[l + 1] {
                let t = leafTargets[k], w = Double(leafWeights[k])
                switch aggregate {
                case .sum, .average: s[t] += w
                case .min: s[t] = has[t] ? Swift.min(s[t], w) : w
                case .max: s[t] = has[t] ? Swift.max(s[t], w) : w
                }
                has[t] = true
            }
        }
        if aggregate == .average { for t in 0..<outputWidth { s[t] /= Double(roots.count) } }
        return (s, has)
    }

    /// One row's outputs (after the post-transform) and its class index (classifier).
    func row(_ x: UnsafePointer<Float>) -> (outputs: [Double], classIndex: Int) {
        var (s, has) = rawScores(x)
        if !isClassifier {
            for t in 0..<min(baseValues.count, outputWidth) { s[t] += Double(baseValues[t]) }
            return (TreeEnsemble.transform(s, postTransform), 0)
        }
        if outputWidth > 2 || !binaryCase {
            if outputWidth == 2 && baseValues.count == 2 && has[1] {
                // onnxruntime's rule for two classes with weights for both and two base values.
                s[1] = Double(baseValues[1]) + s[0]
                s[0] = -s[1]
            } else {
                for t in 0..<min(baseValues.count, outputWidth) { s[t] += Double(baseValues[t]) }
            }
            var best = 0
            for t in 1..<outputWidth where s[t] > s[best] { best = t }
            return (TreeEnsemble.transform(s, postTransform), best)
        }
        // Binary case: one score for the positive class.
        var score = s[0]
        if baseValues.count == 2 { score += Double(baseValues[0]) } else if baseValues.count == 1 { score += Double(baseValues[0]) }
        let positive = weightsAllPositive ? score > 0.5 : score > 0
        let out: [Double]
        if baseValues.count == 2 {
            out = TreeEnsemble.transform([score, Double(baseValues[1])], postTransform)
        } else if weightsAllPositive {
            out = [1 - score, score]
        } else if postTransform == .logistic {
            out = [TreeEnsemble.logistic(-score), TreeEnsemble.logistic(score)]
        } else {
            out = positive ? [-score, score] : [score, -score]
        }
        return (out, positive ? 1 : 0)
    }

    static func logistic(_ v: Double) -> Double {
        let e = 1 / (1 + exp(-abs(v)))
        return v < 0 ? 1 - e : e
    }

    static func transform(_ s: [Double], _ post: PostTransform) -> [Double] {
        switch post {
        case .none:
            return s
        case .logistic:
            return s.map(logistic)
        case .softmax:
            let m = s.max() ?? 0
            let e = s.map { exp($0 - m) }
            let z = e.reduce(0, +)
            return e.map { $0 / z }
        case .softmaxZero:
            let m = s.max() ?? 0
            let e = s.map { $0 == 0 ? 0 : exp($0 - m) }
            let z = e.reduce(0, +)
            return z == 0 ? e : e.map { $0 / z }
        }
    }

    /// Checks that `x` is `[N, F]` with F ≥ `inputWidth`.
    func checkInput(_ x: Tensor, node: String) throws {
        guard x.rank == 2, x.shape[1] >= inputWidth else {
            throw ModelError.shapeMismatch("tree ensemble '\(node)' needs [N, ≥ \(inputWidth)] features, got \(x.shape)")
        }
    }

    /// Scores `[N, W]` for the rows of `x` `[N, F]`.
    public func evaluate(_ x: Tensor, node: String = "") throws -> Tensor {
        try checkInput(x, node: node)
        let n = x.shape[0], f = x.shape[1], w = outputWidth
        var out = [Float](repeating: 0, count: n * w)
        x.data.withUnsafeBufferPointer { xs in
            for r in 0..<n {
                let o = row(xs.baseAddress! + r * f).outputs
                for t in 0..<w { out[r * w + t] = Float(o[t]) }
            }
        }
        return Tensor(uncheckedShape: [n, w], data: out)
    }

    /// One row's outputs after the post-transform, in double precision (before the rounding to
    /// float32 that `evaluate` does). `row.count` must be at least `inputWidth`.
    public func scores(row x: [Float]) throws -> [Double] {
        guard x.count >= inputWidth, !x.isEmpty else {
            throw ModelError.shapeMismatch("tree ensemble row has \(x.count) features, needs \(inputWidth)")
        }
        return x.withUnsafeBufferPointer { row($0.baseAddress!).outputs }
    }

    /// Class labels `[N]` (as floats) for the rows of `x` `[N, F]`.
    public func labels(_ x: Tensor, node: String = "") throws -> Tensor {
        try checkInput(x, node: node)
        let n = x.shape[0], f = x.shape[1]
        var out = [Float](repeating: 0, count: n)
        x.data.withUnsafeBufferPointer { xs in
            for r in 0..<n { out[r] = Float(classLabels[row(xs.baseAddress! + r * f).classIndex]) }
        }
        return Tensor(uncheckedShape: [n], data: out)
    }
}

/// The list attributes ONNX-ML nodes add to `Attributes`, with errors naming node and attribute.
extension Attributes {
    func unsupported(_ key: String, _ what: String) -> ModelError {
        .unsupported("node '\(node.displayName)' (\(node.opType)): attribute '\(key)' \(what)")
    }

    /// A required list of ints.
    func requiredInts(_ key: String) throws -> [Int] {
        guard let v = try ints(key) else { throw unsupported(key, "is missing") }
        return v
    }

    /// A float list, or the same values from the `_as_tensor` (double) variant.
    func optionalFloats(_ key: String, tensor: String) throws -> [Float]? {
        switch node.attributes[key] {
        case .floats(let v): return v
        case .float(let v): return [v]
        case nil: break
        default: throw unsupported(key, "is not a list of floats")
        }
        switch node.attributes[tensor] {
        case nil: return nil
        case .tensor(.float(let t)): return t.data
        default: throw unsupported(tensor, "is not a float tensor")
        }
    }

    func floats(_ key: String, tensor: String) throws -> [Float] {
        guard let v = try optionalFloats(key, tensor: tensor) else { throw unsupported(key, "is missing") }
        return v
    }

    func strings(_ key: String) throws -> [String] {
        switch node.attributes[key] {
        case .strings(let v): return v
        case .string(let v): return [v]
        case nil: throw unsupported(key, "is missing")
        default: throw unsupported(key, "is not a list of strings")
        }
    }
}
