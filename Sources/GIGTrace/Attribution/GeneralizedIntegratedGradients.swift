import CNN
import Core

extension Model {
    /// Whether the model has ONNX-ML tree-ensemble nodes: its class scores jump, and tracing
    /// computes concept → class edges with Generalized IG (docs/METHOD.md §9).
    public var hasTreeEnsembles: Bool {
        nodes.contains { node in
            switch node.op {
            case .treeEnsemble, .treeLabel: return true
            default: return false
            }
        }
    }
}

/// Generalized Integrated Gradients for models with jumps (Merrill et al., arXiv 1909.01869;
/// docs/METHOD.md §9): tree ensembles, and networks feeding a tree-ensemble head.
///
/// Along the straight path γ(a) = x' + a(x − x'), a ∈ [0, 1], the attribution of input element i is
///
///   GIG_i = (x_i − x'_i) ∫₀¹ ∂_i f_smooth(γ(a)) da + Σ_{jumps at a*} share_i(a*),
///
/// where the integral is the engine's gradient (trees contribute zero) by quadrature, and every
/// jump of f — a tree head's input coordinate u_j crossing one of its split thresholds — is
/// credited to the coordinates that cross there (the Shapley value among several crossing at the
/// same a*, v(T) = f with the coordinates in T moved past a*, the others not). When u_j is a
/// network output rather than an input element, u_j's share goes to the input elements in
/// proportion to their part of u_j's change along the path at a*, ∂_i u_j (x_i − x'_i) (the chain
/// rule, as IG splits a smooth change).
///
/// Crossings are exact when a tree reads the path's tensor itself (tree-only models:
/// a = (θ − x'_j)/(x_j − x'_j)); otherwise they are bracketed on a grid of `scanSteps` and found by
/// bisection to `bisectionTolerance`, and a crossing that goes and comes back within one grid cell
/// is missed: the `remainder` (f(x) − f(x') − Σ GIG_i) reports what was not attributed. For
/// tree-only models completeness is exact up to rounding.
///
/// `gigtrace trace` computes concept → class edges with it when the model has a tree head
/// (`GIGComputation.computeGeneralized`).
///
/// ```swift
/// let model = try Model.load(path: "gb.onnx")
/// let gig = try GeneralizedIntegratedGradients(model: model, output: "probabilities")
/// let r = try gig.attribute(x, baseline: xBaseline, target: 1)   // x, xBaseline: [1, F]
/// print(r.attributions, r.completenessError)
/// ```
public struct GeneralizedIntegratedGradients: Sendable {
    /// The model; attributions are with respect to tensor `from`, of the scalar `target` of `output`.
    public let model: Model
    public let from: String
    public let output: String
    /// Quadrature of the smooth part (Captum's `method` / `n_steps`).
    public var quadrature: Quadrature
    /// Most crossing points one path may have; more is an error (the work grows with them).
    public var maxCrossings: Int = 100_000
    /// Most coordinates that may cross at one point (the Shapley split costs 2^k evaluations).
    public var maxTiedCrossings: Int = 12
    /// Grid of the crossing search for tree heads fed by a network.
    public var scanSteps: Int = 64
    /// Times a grid cell that may hide a double crossing is split (see `bisectedCrossings`).
    public var refinementRounds: Int = 6
    /// Width in a to which bisection narrows a network-fed crossing.
    public var bisectionTolerance: Double = 1e-5
    /// Points per batched forward pass.
    public var internalBatchSize: Int = 64

    let full: Subnetwork
    let heads: [Head]
    /// The output is the scores of `heads[i]` itself: jumps are evaluated on the trees directly.
    let directHead: Int?
    /// Whether some path from `from` to the output avoids the tree heads (a smooth part exists).
    let hasSmoothPart: Bool

    /// Whether the way from `from` to the output has a tree ensemble (else GIG is plain IG).
    public var hasJumps: Bool { !heads.isEmpty }

    /// A tree ensemble on the way from `from` to the output.
    struct Head: Sendable {
        let nodeIndex: Int
        let name: String
        let trees: TreeEnsemble
        let input: String
        /// The tree reads `from` itself (through reshapes only): crossings in closed form.
        let readsPath: Bool
        /// `from` → the tree's input, when it is a network output.
        let feeder: Subnetwork?
        /// Sorted distinct thresholds per feature.
        let thresholds: [[Float]]
    }

    /// One run's result, per input element and in total.
    public struct Result: Sendable {
        /// Per-sample shape of `from`.
        public let shape: [Int]
        /// GIG_i, in C order of `shape`.
        public let attributions: [Double]
        /// G_i with GIG_i = G_i (x_i − x'_i): project G onto any split of x − x' (e.g. concept
        /// directions) to attribute to the parts.
        public let effectiveGradient: [Double]
        /// f(x) and f(x').
        public let value: Double
        public let baselineValue: Double
        /// Σ_i of the integral part, and of the jump credits.
        public let smoothTotal: Double
        public let jumpTotal: Double
        /// Crossing points found on the path (coordinates crossing at the same a count once).
        public let crossings: Int
        /// Jumps that could not be credited (the crossing coordinate's change along the path was 0).
        public let uncredited: Double

        /// f(x) − f(x').
        public var delta: Double { value - baselineValue }
        /// f(x) − f(x') − Σ_i GIG_i.
        public var remainder: Double { delta - attributions.reduce(0, +) }
        /// |remainder| / |f(x) − f(x')| (0 when both are 0).
        public var completenessError: Double {
            let r = abs(remainder)
            return r == 0 ? 0 : r / max(abs(delta), 1e-30)
        }
        /// The attributions as a `[1, ...shape]` tensor.
        public var attributionTensor: Tensor {
            Tensor(uncheckedShape: [1] + shape, data: attributions.map { Float($0) })
        }
    }

    /// Prepares GIG from tensor `from` (default: the model's input) to graph output `output`
    /// (default: the first that is not a tree classifier's label). Throws when the way there has discrete ops whose jumps cannot be
    /// located (ArgMax, Cast to integers, equality splits), or a tree head reads something that is
    /// not a function of `from`.
    public init(model: Model, from: String? = nil, output: String? = nil,
                method: Quadrature.Method = .gaussLegendre, nSteps: Int = 32) throws {
        let source = from ?? model.inputName
        let target = output ?? GeneralizedIntegratedGradients.defaultOutput(of: model)
        self.model = model
        self.from = source
        self.output = target
        quadrature = try Quadrature(method: method, steps: nSteps)
        try model.checkTensor(source)
        try model.checkTensor(target)
        try GeneralizedIntegratedGradients.checkHeadsReadPath(model: model, from: source, to: target)
        full = try model.subnetwork(from: source, to: target)
        var heads = [Head]()
        for i in full.nodeIndices {
            let node = model.nodes[i]
            switch node.op {
            case .argMax, .castToInteger:
                throw ModelError.unsupportedOp(op: "\(node.op.kind) between '\(source)' and '\(target)' (Generalized IG cannot locate its jumps)", node: node.name)
            case .treeEnsemble(let trees), .treeLabel(let trees):
                guard !trees.hasEqualityTests else {
                    throw ModelError.unsupportedOp(op: "\(node.op.kind) with BRANCH_EQ/BRANCH_NEQ splits (Generalized IG needs threshold splits)", node: node.name)
                }
                let input = node.inputs.first ?? ""
                let direct = GeneralizedIntegratedGradients.reachedByReshapes(input, from: source, model: model)
                var thresholds = [[Float]](repeating: [], count: trees.inputWidth)
                for (f, t) in trees.splits { thresholds[f].append(t) }
                heads.append(Head(nodeIndex: i, name: node.name, trees: trees, input: input, readsPath: direct,
                                  feeder: direct ? nil : try model.subnetwork(from: source, to: input),
                                  thresholds: thresholds))
            default:
                continue
            }
        }
        self.heads = heads
        directHead = heads.firstIndex { model.nodes[$0.nodeIndex].output == target }
        hasSmoothPart = GeneralizedIntegratedGradients.smoothPathExists(full, model: model)
    }

    /// The output explained by default: the first that is not a tree classifier's label
    /// (exports list the label first), else the first.
    public static func defaultOutput(of model: Model) -> String {
        model.outputNames.first { name in
            guard let p = model.producer[name], case .treeLabel = model.nodes[p].op else { return true }
            return false
        } ?? model.outputNames.first ?? ""
    }

    /// Throws naming the tree node when a tree head on the way to `to` reads a tensor that is not
    /// computed from `from` (e.g. a head fed by the image input when `from` is a traced layer).
    static func checkHeadsReadPath(model: Model, from: String, to: String) throws {
        var stack = [to], seen = Set<String>()
        while let t = stack.popLast() {
            guard t != from, seen.insert(t).inserted, let p = model.producer[t] else { continue }
            let node = model.nodes[p]
            switch node.op {
            case .treeEnsemble, .treeLabel:
                let input = node.inputs.first ?? ""
                if (try? model.subnetwork(from: from, to: input)) == nil && input != from {
                    throw TraceError.invalidRequest("tree head '\(node.name)' reads '\(input)', which is not a function of '\(from)' alone: Generalized IG (docs/METHOD.md §9) needs the head's input to be computed from the traced tensor")
                }
            default:
                break
            }
            stack.append(contentsOf: node.inputs.filter { !$0.isEmpty })
        }
    }

    /// Whether `name` is `from` seen through reshapes/identities only (same elements, same order).
    static func reachedByReshapes(_ name: String, from: String, model: Model) -> Bool {
        var t = name
        while t != from {
            guard let p = model.producer[t] else { return false }
            let node = model.nodes[p]
            switch node.op {
            case .reshape, .identity: t = node.inputs.first ?? ""
            default: return false
            }
        }
        return true
    }

    /// Whether the output depends on `from` along some path of differentiable (non-tree) ops.
    static func smoothPathExists(_ sub: Subnetwork, model: Model) -> Bool {
        var reached: Set<String> = [sub.from]
        for i in sub.nodeIndices {
            let node = model.nodes[i]
            switch node.op {
            case .treeEnsemble, .treeLabel, .argMax, .castToInteger: continue
            default: if node.inputs.contains(where: reached.contains) { reached.insert(node.output) }
            }
        }
        return reached.contains(sub.to)
    }

    // MARK: the path

    /// Flattened x', x − x' of one sample.
    struct Path {
        let baseline: [Float]
        let step: [Double]
        let shape: [Int]

        func point(_ a: Double) -> [Float] {
            if a == 0 { return baseline }
            return (0..<baseline.count).map { Float(Double(baseline[$0]) + a * step[$0]) }
        }

        func batch(_ alphas: [Double]) -> Tensor {
            var data = [Float]()
            data.reserveCapacity(alphas.count * baseline.count)
            for a in alphas { data += point(a) }
            return Tensor(uncheckedShape: [alphas.count] + shape, data: data)
        }
    }

    /// Runs `sub` on the path points `alphas` in batches; returns the outputs stacked.
    func run(_ sub: Subnetwork, _ path: Path, _ alphas: [Double]) throws -> Tensor {
        var parts = [Tensor]()
        var start = 0
        while start < alphas.count {
            let end = min(alphas.count, start + max(1, internalBatchSize))
            parts.append(try sub.forward(path.batch(Array(alphas[start..<end]))).output)
            start = end
        }
        return try Tensor.concatenate(batches: parts)
    }

    /// The per-sample width of a stacked tensor.
    static func width(_ t: Tensor) -> Int { t.count / max(1, t.shape.first ?? 1) }

    // MARK: attribution

    /// GIG of output element `target` (flat index within one sample's output, e.g. the class) for
    /// one sample `x` against `baseline`, both `[1, ...shape(from)]` (or without the batch axis).
    public func attribute(_ x: Tensor, baseline: Tensor, target: Int) throws -> Result {
        let results = try attribute(x, baseline: baseline, targets: [target])
        guard let r = results.first else { throw TraceError.invalidRequest("internal: no Generalized IG result") }
        return r
    }

    /// GIG of several output elements on the same path: the crossing search, the head inputs and
    /// the chain-rule gradients at the crossings are shared; one result per target, in order.
    public func attribute(_ x: Tensor, baseline: Tensor, targets: [Int]) throws -> [Result] {
        let shape = model.tensorShapes[from] ?? Array(x.shape.dropFirst())
        let count = Tensor.elementCount(shape)
        guard x.count == count, baseline.count == count, count > 0 else {
            throw TraceError.shapeMismatch("Generalized IG needs one sample of '\(from)' [\(shape.map(String.init).joined(separator: ", "))] for input and baseline, got \(x.shape) and \(baseline.shape)")
        }
        let path = Path(baseline: baseline.data, step: (0..<count).map { Double(x.data[$0]) - Double(baseline.data[$0]) }, shape: shape)
        let ends = try run(full, path, [0, 1])
        let outWidth = Self.width(ends)
        for target in targets where target < 0 || target >= outWidth {
            throw TraceError.invalidRequest("target \(target) out of range 0..<\(outWidth) for output '\(output)'")
        }
        var f0 = targets.map { Double(ends.data[$0]) }, f1 = targets.map { Double(ends.data[outWidth + $0]) }
        if let d = directHead {
            // The trees' own double-precision scores, as the jumps are measured.
            let rows = try headInputs(d, path: path, at: [0, 1])
            let s0 = try heads[d].trees.scores(row: rows[0]), s1 = try heads[d].trees.scores(row: rows[1])
            f0 = targets.map { s0[$0] }
            f1 = targets.map { s1[$0] }
        }
        var gradients = [[Double]](repeating: [Double](repeating: 0, count: count), count: targets.count)

        // Smooth part: Σ_k w_k ∇f(γ(α_k)) (trees pass no gradient).
        var smoothTotals = [Double](repeating: 0, count: targets.count)
        if hasSmoothPart {
            var block = Tensor(shape: [targets.count, outWidth])
            for (k, target) in targets.enumerated() { block.data[k * outWidth + target] = 1 }
            let alphas = quadrature.alphas, weights = quadrature.weights
            var start = 0
            while start < alphas.count {
                let end = min(alphas.count, start + max(1, internalBatchSize))
                let tape = try full.forward(path.batch(Array(alphas[start..<end])))
                let g = try full.backwardSum(tape, block: block, weights: weights[start..<end].map { Float($0) })
                for k in targets.indices { for i in 0..<count { gradients[k][i] += Double(g.data[k * count + i]) } }
                start = end
            }
            smoothTotals = gradients.map { g in (0..<count).reduce(0) { $0 + g[$1] * path.step[$1] } }
        }

        // Jump part.
        let groups = try crossingGroups(path)
        var jumpTotals = [Double](repeating: 0, count: targets.count), uncredited = jumpTotals
        if !groups.isEmpty {
            let shares = try jumpShares(groups, path: path, targets: targets, outWidth: outWidth)
            let credit = try credit(shares, path: path, targets: targets.count)
            for k in targets.indices { for i in 0..<count { gradients[k][i] += credit.gradients[k][i] } }
            jumpTotals = credit.totals
            uncredited = credit.uncredited
        }
        return targets.indices.map { k in
            Result(shape: shape, attributions: (0..<count).map { gradients[k][$0] * path.step[$0] }, effectiveGradient: gradients[k],
                   value: f1[k], baselineValue: f0[k], smoothTotal: smoothTotals[k], jumpTotal: jumpTotals[k],
                   crossings: groups.count, uncredited: uncredited[k])
        }
    }

    /// A coordinate of a tree head's input: (head, feature).
    struct Player: Hashable {
        let head: Int
        let feature: Int
    }

    /// Coordinates crossing a split threshold at (about) the same point a.
    struct Group {
        var a: Double
        var players: [Player]
    }

    /// All crossing points of the path, grouped where several coordinates cross at the same a,
    /// in increasing a.
    func crossingGroups(_ path: Path) throws -> [Group] {
        var found = [(a: Double, player: Player)]()
        var approximate = false
        for (h, head) in heads.enumerated() {
            if head.readsPath {
                for j in 0..<min(head.thresholds.count, path.baseline.count) where path.step[j] != 0 {
                    let b = Double(path.baseline[j]), d = path.step[j]
                    for t in head.thresholds[j] {
                        let a = (Double(t) - b) / d
                        if a >= 0 && a <= 1 { found.append((a, Player(head: h, feature: j))) }
                    }
                    try checkLimit(found.count)
                }
            } else if let feeder = head.feeder {
                approximate = true
                found += try bisectedCrossings(head: h, feeder: feeder, path: path)
                try checkLimit(found.count)
            }
        }
        found.sort { $0.a < $1.a }
        let tie = approximate ? 2 * bisectionTolerance : 1e-12
        var groups = [Group]()
        for c in found {
            if var last = groups.last, c.a - last.a <= tie {
                if !last.players.contains(c.player) { last.players.append(c.player) }
                groups[groups.count - 1] = last
            } else {
                groups.append(Group(a: c.a, players: [c.player]))
            }
        }
        for g in groups where g.players.count > maxTiedCrossings {
            throw TraceError.invalidRequest("\(g.players.count) coordinates cross a split threshold at the same point a = \(g.a) of the path (at most \(maxTiedCrossings): their Shapley split costs 2^k evaluations); use a baseline with distinct coordinates")
        }
        return groups
    }

    func checkLimit(_ n: Int) throws {
        if n > maxCrossings {
            throw TraceError.invalidRequest("the path from the baseline crosses more than \(maxCrossings) split thresholds (the crossing limit); raise the limit or use a closer baseline")
        }
    }

    /// Crossings of a network-fed head. The head's input u(a) and its derivative u'(a) along the
    /// path (forward mode) on a grid of `scanSteps` + 1 points; a cell whose ends lie on different
    /// sides of a threshold θ is a bracket. A cell whose ends lie on the same side can still cross
    /// twice: where the tangent lines at its ends meet beyond θ (exactly so for a ReLU network,
    /// where u is piecewise linear in a), the cell is split there and both halves examined again
    /// (up to `refinementRounds` times). Brackets are then narrowed by bisection.
    func bisectedCrossings(head h: Int, feeder: Subnetwork, path: Path) throws -> [(a: Double, player: Player)] {
        let head = heads[h]
        let steps = max(1, scanSteps)
        let grid = (0...steps).map { Double($0) / Double(steps) }
        var samples = try probe(feeder, path, grid)
        let w = samples.width
        struct Bracket { var lo: Double, hi: Double, feature: Int, threshold: Float, loSide: Bool }
        var brackets = [Bracket]()
        // Cells as pairs of sample indices into `samples`.
        var cells = (0..<steps).map { ($0, $0 + 1) }
        for round in 0...refinementRounds {
            var splits = [(cell: (Int, Int), at: Double)]()
            for (l, r) in cells {
                let lo = samples.alphas[l], hi = samples.alphas[r], width = hi - lo
                var split: Double? = nil
                var found = [Bracket]()
                for j in 0..<min(w, head.thresholds.count) {
                    let u0 = Double(samples.u[l * w + j]), u1 = Double(samples.u[r * w + j])
                    let g0 = Double(samples.slope[l * w + j]), g1 = Double(samples.slope[r * w + j])
                    // Where the tangent lines at the two ends meet, and the value there.
                    var turn: (t: Double, value: Double)? = nil
                    if g0 != g1 {
                        let t = (u1 - u0 - g1 * width) / (g0 - g1)
                        if t > 0 && t < width { turn = (t, u0 + g0 * t) }
                    }
                    for t in head.thresholds[j] {
                        let left = samples.u[l * w + j] <= t, right = samples.u[r * w + j] <= t
                        if left != right {
                            found.append(Bracket(lo: lo, hi: hi, feature: j, threshold: t, loSide: left))
                        } else if let turn, (turn.value <= Double(t)) != left {
                            split = min(split ?? hi, lo + turn.t)
                        }
                    }
                }
                // A cell split is examined again as two halves; otherwise its brackets stand.
                if let split, round < refinementRounds {
                    splits.append(((l, r), split))
                } else {
                    brackets += found
                }
            }
            try checkLimit(brackets.count)
            if splits.isEmpty { break }
            let base = samples.alphas.count
            samples.append(try probe(feeder, path, splits.map(\.at)))
            cells = splits.enumerated().flatMap { k, s in [(s.cell.0, base + k), (base + k, s.cell.1)] }
        }
        while let widest = brackets.map({ $0.hi - $0.lo }).max(), widest > bisectionTolerance {
            let mids = brackets.map { ($0.lo + $0.hi) / 2 }
            let v = try run(feeder, path, mids)
            for k in brackets.indices {
                if (v.data[k * w + brackets[k].feature] <= brackets[k].threshold) == brackets[k].loSide {
                    brackets[k].lo = mids[k]
                } else {
                    brackets[k].hi = mids[k]
                }
            }
        }
        return brackets.map { (($0.lo + $0.hi) / 2, Player(head: h, feature: $0.feature)) }
    }

    /// A network output and its derivative along the path at some points a.
    struct Samples {
        var alphas: [Double]
        var u: [Float]
        var slope: [Float]
        let width: Int

        mutating func append(_ other: Samples) {
            alphas += other.alphas
            u += other.u
            slope += other.slope
        }
    }

    /// `feeder`'s output u(a) and du/da (a forward-mode sweep along x − x') at `alphas`.
    func probe(_ feeder: Subnetwork, _ path: Path, _ alphas: [Double]) throws -> Samples {
        var u = [Float](), slope = [Float](), width = 0
        let direction = path.step.map { Float($0) }
        var start = 0
        while start < alphas.count {
            let end = min(alphas.count, start + max(1, internalBatchSize))
            let tape = try feeder.forward(path.batch(Array(alphas[start..<end])))
            var tangents = [Float]()
            for _ in start..<end { tangents += direction }
            let t = try feeder.jvp(tape, tangents: Tensor(uncheckedShape: [end - start] + path.shape, data: tangents))
            guard let d = t[feeder.to] else { throw TraceError.invalidRequest("internal: no tangent at '\(feeder.to)'") }
            width = Self.width(tape.output)
            u += tape.output.data
            slope += d.data
            start = end
        }
        return Samples(alphas: alphas, u: u, slope: slope, width: width)
    }

    /// A crossing point with its player's Shapley share of the jump, per target.
    struct Share {
        let a: Double
        let player: Player
        let values: [Double]
    }

    /// The jump at every group, split among its players (Shapley value; all of it for one player).
    /// v(T) = f at γ(a*) with the trees of the crossing heads evaluated on inputs whose coordinates
    /// in T are taken just after a*, the others just before (at the midpoints to the neighbouring
    /// crossing points, where the trees are constant).
    func jumpShares(_ groups: [Group], path: Path, targets: [Int], outWidth: Int) throws -> [Share] {
        // Points just before / after every group.
        var before = [Double](), after = [Double]()
        for (g, group) in groups.enumerated() {
            let previous = g > 0 ? groups[g - 1].a : 0, next = g + 1 < groups.count ? groups[g + 1].a : 1
            before.append(group.a <= 0 ? 0 : (previous + group.a) / 2)
            after.append(group.a >= 1 ? 1 : (group.a + next) / 2)
        }
        // Each crossing head's input at those points.
        var inputs = [Int: (before: [[Float]], after: [[Float]])]()
        for h in Set(groups.flatMap { $0.players.map(\.head) }) {
            inputs[h] = (try headInputs(h, path: path, at: before), try headInputs(h, path: path, at: after))
        }
        // Configurations: for group g, mask m over its players (bit k: player k moved past a*).
        var configs = [(group: Int, mask: Int)]()
        for (g, group) in groups.enumerated() {
            for m in 0..<(1 << group.players.count) { configs.append((g, m)) }
        }
        func headRow(_ h: Int, _ g: Int, _ mask: Int) -> [Float] {
            guard let io = inputs[h] else { return [] }
            var row = io.before[g]
            for (k, p) in groups[g].players.enumerated() where p.head == h && mask & (1 << k) != 0 {
                row[p.feature] = io.after[g][p.feature]
            }
            return row
        }
        var values = [[Double]](repeating: [], count: configs.count)
        if let d = directHead {
            for (c, config) in configs.enumerated() {
                let scores = try heads[d].trees.scores(row: headRow(d, config.group, config.mask))
                values[c] = targets.map { scores[$0] }
            }
        } else {
            var start = 0
            while start < configs.count {
                let end = min(configs.count, start + max(1, internalBatchSize))
                let chunk = Array(configs[start..<end])
                var overrides = [Int: Tensor]()
                for h in Set(chunk.flatMap { groups[$0.group].players.map(\.head) }) {
                    // Heads without a crossing in a group keep their value at γ(a*) (no override
                    // needed, but one tensor covers the chunk): evaluate them on their own input.
                    let rows = chunk.map { headRow(h, $0.group, $0.mask) }
                    let at = try headInputs(h, path: path, at: chunk.map { groups[$0.group].a })
                    let merged = zip(chunk, zip(rows, at)).map { config, pair in
                        groups[config.group].players.contains { $0.head == h } ? pair.0 : pair.1
                    }
                    let wIn = merged.first?.count ?? 0
                    let tensor = Tensor(uncheckedShape: [merged.count, wIn], data: merged.flatMap { $0 })
                    overrides[heads[h].nodeIndex] = try heads[h].trees.evaluate(tensor, node: heads[h].name)
                }
                let out = try runWithOverrides(path.batch(chunk.map { groups[$0.group].a }), overrides: overrides)
                for k in 0..<chunk.count { values[start + k] = targets.map { Double(out.data[k * outWidth + $0]) } }
                start = end
            }
        }
        var shares = [Share]()
        var offset = 0
        for group in groups {
            let m = group.players.count
            let perTarget = targets.indices.map { t in
                Self.shapley(players: m, values: values[offset..<(offset + (1 << m))].map { $0[t] })
            }
            offset += 1 << m
            for k in 0..<m {
                shares.append(Share(a: group.a, player: group.players[k], values: perTarget.map { $0[k] }))
            }
        }
        return shares
    }

    /// Head h's input rows at path points `alphas`.
    func headInputs(_ h: Int, path: Path, at alphas: [Double]) throws -> [[Float]] {
        let head = heads[h]
        if head.readsPath { return alphas.map { path.point($0) } }
        guard let feeder = head.feeder else { return [] }
        let u = try run(feeder, path, alphas)
        let w = Self.width(u)
        return (0..<alphas.count).map { Array(u.data[($0 * w)..<(($0 + 1) * w)]) }
    }

    /// The subnetwork's output on `z` with the outputs of some nodes replaced.
    func runWithOverrides(_ z: Tensor, overrides: [Int: Tensor]) throws -> Tensor {
        var values: [String: Tensor] = [from: z]
        for i in full.nodeIndices {
            let node = model.nodes[i]
            if let o = overrides[i] { values[node.output] = o; continue }
            let ins = node.inputs.map { $0.isEmpty ? nil : (values[$0] ?? model.constants[$0]) }
            values[node.output] = try node.evaluate(ins, threads: model.threads).0
        }
        guard let out = values[output] else { throw ModelError.unknownTensor(output, available: Array(values.keys)) }
        return out
    }

    /// Shapley values of m players from v over all 2^m coalitions (bit k = player k).
    static func shapley(players m: Int, values v: [Double]) -> [Double] {
        if m == 1 { return [v[1] - v[0]] }
        var factorial = [1.0]
        for k in 1...m { factorial.append(factorial[k - 1] * Double(k)) }
        return (0..<m).map { k in
            var phi = 0.0
            for s in 0..<(1 << m) where s & (1 << k) == 0 {
                let size = s.nonzeroBitCount
                phi += factorial[size] * factorial[m - size - 1] / factorial[m] * (v[s | (1 << k)] - v[s])
            }
            return phi
        }
    }

    /// Each share turned into effective-gradient terms: a coordinate of the path itself gets
    /// share / (x_j − x'_j); a network output u_j spreads its share over the input elements by
    /// ∂_i u_j (x_i − x'_i) at the crossing point (one backward pass per crossing, all targets).
    func credit(_ shares: [Share], path: Path, targets: Int) throws -> (gradients: [[Double]], totals: [Double], uncredited: [Double]) {
        let count = path.baseline.count
        var gradients = [[Double]](repeating: [Double](repeating: 0, count: count), count: targets)
        var totals = [Double](repeating: 0, count: targets), uncredited = totals
        var viaNetwork = [Int: [Share]]()
        for s in shares {
            if heads[s.player.head].readsPath {
                let j = s.player.feature
                for t in 0..<targets {
                    gradients[t][j] += s.values[t] / path.step[j]
                    totals[t] += s.values[t]
                }
            } else if s.values.contains(where: { $0 != 0 }) {
                viaNetwork[s.player.head, default: []].append(s)
            }
        }
        for (h, list) in viaNetwork {
            guard let feeder = heads[h].feeder else { continue }
            var start = 0
            while start < list.count {
                let end = min(list.count, start + max(1, internalBatchSize))
                let chunk = Array(list[start..<end])
                let tape = try feeder.forward(path.batch(chunk.map(\.a)))
                let w = Self.width(tape.output)
                var seed = Tensor(shape: tape.output.shape)
                for (k, s) in chunk.enumerated() { seed.data[k * w + s.player.feature] = 1 }
                let g = try feeder.backward(tape, cotangent: seed)
                for (k, s) in chunk.enumerated() {
                    let row = g.data[(k * count)..<((k + 1) * count)]
                    var rate = 0.0
                    for (i, v) in row.enumerated() { rate += Double(v) * path.step[i] }
                    for t in 0..<targets {
                        guard abs(rate) > 1e-12 else { uncredited[t] += s.values[t]; continue }
                        let scale = s.values[t] / rate
                        for (i, v) in row.enumerated() { gradients[t][i] += scale * Double(v) }
                        totals[t] += s.values[t]
                    }
                }
                start = end
            }
        }
        return (gradients, totals, uncredited)
    }
}
