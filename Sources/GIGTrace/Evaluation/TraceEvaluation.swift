import CNN
import Concepts
import Core
import Datasets
import Foundation
import PFV

/// `gigtrace evaluate`: is a trace's graph causal? (METHOD §8). Reuses the trace's model, dataset
/// description and concept banks; reruns the model on the first `images` traced images, codes their
/// layers, and for each traced layer deletes and inserts concepts in the order of the image's stored
/// GIG edges and of the baselines (dataset-mean edge, code magnitude, gradient × activation, random
/// orders). Targets: the predicted class (from every layer), and the image's strongest concept of
/// the next traced layer (from every layer but the last).
///
/// ```swift
/// var options = TraceEvaluation.Options()
/// options.images = 200
/// let report = try TraceEvaluation(trace: "demo/trace.sqlite", options: options).run()
/// print(report.table())
/// ```
public struct TraceEvaluation: Sendable {
    public struct Options: Sendable {
        /// The first N traced images (by index) are evaluated.
        public var images = 200
        /// Random orders per image and target (≥ 20 in METHOD §8).
        public var randomOrders = 20
        /// Only images predicted as this class (nil: all).
        public var classIndex: Int?
        /// Evaluate the layer → next-layer concept targets too (else classes only).
        public var layerTargets = true
        /// Overrides of the model file and the dataset's path when they moved since tracing.
        public var modelPath: String?
        public var dataPath: String?
        public var seed: UInt64 = 0
        public var threads = 2
        public var batchSize = 32
        public var quiet = false
        public init() {}
    }

    public let tracePath: String
    public let options: Options
    public let reader: TraceReader
    let model: Model
    let layers: [LayerGeometry]
    let banks: [ConceptBank]
    let bases: [ConceptBasis]
    /// The trace's concept target (METHOD §4): layer targets are evaluated as GIG's were.
    let conceptTarget: ConceptTarget
    let loader: DatasetLoader
    let output: String

    /// Opens the trace, its model and dataset; every problem is one error naming the file or option.
    public init(trace path: String, options: Options) throws {
        guard options.images >= 1 else { throw CNNError.invalidInput("--images must be at least 1, got \(options.images)") }
        guard options.randomOrders >= 1 else {
            throw CNNError.invalidInput("--random-orders must be at least 1, got \(options.randomOrders)")
        }
        tracePath = path
        self.options = options
        reader = try TraceReader.open(path)
        let header = reader.header
        let modelPath = options.modelPath ?? header.model.path
        guard FileManager.default.fileExists(atPath: modelPath) else {
            throw CNNError.invalidInput("\(path): its model \(modelPath) no longer exists; pass --model with its new place")
        }
        let sha = try SHA256.hex(ofFile: modelPath)
        guard sha == header.model.sha256 else {
            throw CNNError.invalidInput("\(modelPath) is not the model \(path) was traced with (SHA-256 differs)")
        }
        var spec = try DatasetSpec.parse(header.preprocessingJSON, origin: path)
        if let data = options.dataPath { spec.data = data }
        guard FileManager.default.fileExists(atPath: spec.data) else {
            throw CNNError.invalidInput("\(path): its dataset \(spec.data) no longer exists (moved?); pass --data with its new place")
        }
        var model = try Model.load(path: modelPath, threads: options.threads)
        model.threads = options.threads
        self.model = model
        output = model.outputNames.first ?? ""
        layers = try header.banks.map { try LayerGeometry(model: model, layer: $0.layer) }
        banks = header.banks
        let errorNode = header.settings.errorNode
        bases = try banks.map { try BatchTracer.basis($0).with(errorNode: errorNode) }
        guard let target = header.settings.conceptTarget else {
            throw CNNError.invalidInput("\(path) was traced with concept target '\(header.settings.extra["conceptTarget"] ?? "")', which this build does not know")
        }
        conceptTarget = target
        loader = try spec.makeLoader(batchSize: options.batchSize)
        if let c = options.classIndex, !reader.layout.classNames.indices.contains(c) {
            throw CNNError.invalidInput("class \(c) is not one of the trace's \(reader.layout.classCount) classes")
        }
    }

    /// The orders compared, in report order; "random" stands for the random orders.
    public static let orderNames = ["gig", "mean-edge", "code-magnitude", "gradient-x-activation", "random"]

    /// Runs the evaluation. `progress(done, total)` after every image.
    public func run(progress: (Int, Int) -> Void = { _, _ in }) throws -> EvaluationReport {
        let started = Date()
        let stored = try reader.database.readImageLayers()
        guard !stored.isEmpty else {
            throw CNNError.invalidInput("\(tracePath) was traced before per-image edges were stored (schema v2); trace it again to evaluate it")
        }
        var byImage = [Int: [ImageLayerRecord]]()
        for r in stored { byImage[r.image, default: []].append(r) }
        let records = try reader.images().filter { byImage[$0.index]?.count == layers.count }
            .filter { options.classIndex == nil || $0.prediction == options.classIndex }
        guard !records.isEmpty else {
            throw CNNError.invalidInput("\(tracePath) has no traced images" + (options.classIndex.map { " predicted as \(reader.layout.classNames[$0])" } ?? ""))
        }
        let chosen = Array(records.prefix(options.images))
        let recordOf = Dictionary(uniqueKeysWithValues: chosen.map { ($0.index, $0) })
        let available = Set(loader.indices)
        if let missing = chosen.first(where: { !available.contains($0.index) }) {
            throw CNNError.invalidInput("image \(missing.index) of \(tracePath) is not in its dataset any more (\(loader.indices.count) images): did the dataset change?")
        }
        let classSubs = try layers.map { try model.subnetwork(from: $0.name, to: output) }
        let pairSubs = try zip(layers, layers.dropFirst()).map { try model.subnetwork(from: $0.name, to: $1.name) }
        var accumulators = [String: BlockAccumulator]()
        var done = 0
        let stream = loader.restricted(to: chosen.map(\.index)).stream(prefetchThreads: 0)
        while let batch = try stream.next() {
            let values = try model.forward(batch.images, keep: Set(layers.map(\.name)))
            guard let logits = values[output] else { throw CNNError.unknownTensor(output, available: model.tensorNames) }
            let classes = logits.count / max(1, batch.indices.count)
            let activations = try layers.map { g in
                guard let x = values[g.name] else { throw CNNError.unknownTensor(g.name, available: model.tensorNames) }
                return x
            }
            let codes = try layers.indices.map { try banks[$0].encode(activations: activations[$0], geometry: layers[$0], threads: options.threads) }
            for (i, index) in batch.indices.enumerated() {
                guard let record = recordOf[index], let rows = byImage[index] else { continue }
                let scores = Array(logits.data[(i * classes)..<((i + 1) * classes)])
                let prediction = scores.indices.max { scores[$0] < scores[$1] || (scores[$0] == scores[$1] && $0 > $1) } ?? 0
                guard prediction == record.prediction else {
                    throw CNNError.invalidInput("image \(index) is now predicted as class \(prediction), the trace says \(record.prediction): "
                        + "the dataset or its preprocessing changed since \(tracePath) was traced")
                }
                for l in layers.indices {
                    let size = layers[l].channels * layers[l].positions
                    let x = Array(activations[l].data[(i * size)..<((i + 1) * size)])
                    let k = banks[l].k, p = layers[l].positions
                    let u = Array(codes[l].data[(i * p * k)..<((i + 1) * p * k)])
                    let (contributions, fixed) = split(layer: l, activation: x, codes: u)
                    let row = rows[l]
                    // Class target: the predicted class's logit.
                    var w = [Float](repeating: 0, count: classes)
                    w[prediction] = 1
                    var targets = [ConceptDeletion.Target(tensor: output, weights: w, gradientNetwork: classSubs[l])]
                    var gig = [row.classRelevance.prefix(k).map(Double.init)]
                    var means = [(0..<k).map { reader.graph.classEdge(layer: l, source: $0, classIndex: prediction).mean }]
                    var names = ["\(layers[l].name) → classes"]
                    // Layer target: the image's strongest active concept of the next layer.
                    if options.layerTargets, l + 1 < layers.count,
                       let next = try nextTarget(layer: l, image: i, codes: codes[l + 1], row: row, index: index) {
                        targets.append(ConceptDeletion.Target(tensor: layers[l + 1].name, weights: next.weights, gradientNetwork: pairSubs[l],
                                                              normWeights: next.normWeights))
                        gig.append(next.gig)
                        means.append((0..<k).map { reader.graph.layerEdge(layer: l, source: $0, target: next.concept).mean })
                        names.append("\(layers[l].name) → \(layers[l + 1].name)")
                    }
                    let deletion = try ConceptDeletion(subnetwork: classSubs[l], contributions: contributions, fixed: fixed, targets: targets)
                    try evaluate(deletion, gig: gig, meanEdge: means, codes: u, k: k, signed: bases[l].signedCodes,
                                 seed: options.seed ^ (UInt64(index) &* 0x9E37_79B9_7F4A_7C15) ^ UInt64(l),
                                 keys: names, classIndex: prediction, into: &accumulators)
                }
                done += 1
                progress(done, chosen.count)
            }
        }
        let order = layers.indices.flatMap { l -> [String] in
            ["\(layers[l].name) → classes"] + (options.layerTargets && l + 1 < layers.count ? ["\(layers[l].name) → \(layers[l + 1].name)"] : [])
        }
        return EvaluationReport(
            trace: tracePath, images: done, randomOrders: options.randomOrders, seconds: Date().timeIntervalSince(started),
            errorNode: reader.header.settings.errorNode,
            blocks: order.compactMap { accumulators[$0]?.block(name: $0, classNames: reader.layout.classNames) })
    }

    /// Concept contributions x_q = v_q u_{·,q} (C·P each, the layer's layout) and the fixed part:
    /// PCA's mean, plus E = X − X̃ with the error node.
    func split(layer l: Int, activation x: [Float], codes u: [Float]) -> (contributions: [[Float]], fixed: [Float]) {
        let basis = bases[l], c = layers[l].channels, p = layers[l].positions, k = basis.count
        var contributions = [[Float]](repeating: [Float](repeating: 0, count: c * p), count: k)
        var reconstruction = [Float](repeating: 0, count: c * p)
        for q in 0..<k {
            for ch in 0..<c {
                let v = basis.vectors[q * c + ch]
                guard v != 0 else { continue }
                for pos in 0..<p {
                    let value = v * u[pos * k + q]
                    contributions[q][ch * p + pos] = value
                    reconstruction[ch * p + pos] += value
                }
            }
        }
        var fixed = [Float](repeating: 0, count: c * p)
        if let mean = basis.mean {
            for ch in 0..<c { for pos in 0..<p { fixed[ch * p + pos] = mean[ch]; reconstruction[ch * p + pos] += mean[ch] } }
        }
        if basis.errorNode {
            for j in 0..<(c * p) { fixed[j] += x[j] - reconstruction[j] }
        }
        return (contributions, fixed)
    }

    /// The image's strongest active concept r of layer l + 1 (largest Σ_p |u_{p,r}|), its target
    /// weights (r's direction at the positions where it is active; for the coefficient target its
    /// linear part and norm weights, `CoefficientTarget`) and the image's GIG edges into it;
    /// nil when no concept is active.
    func nextTarget(layer l: Int, image i: Int, codes: Matrix, row: ImageLayerRecord, index: Int) throws
        -> (concept: Int, weights: [Float], normWeights: [Float]?, gig: [Double])? {
        let basis = bases[l + 1], kb = basis.count, pb = layers[l + 1].positions, cb = layers[l + 1].channels
        let ub = Array(codes.data[(i * pb * kb)..<((i + 1) * pb * kb)])
        var sums = [Double](repeating: 0, count: kb)
        for pos in 0..<pb { for r in 0..<kb where basis.isActive(ub[pos * kb + r]) { sums[r] += abs(Double(ub[pos * kb + r])) } }
        guard let r = sums.indices.max(by: { sums[$0] < sums[$1] || (sums[$0] == sums[$1] && $0 > $1) }), sums[r] > 0 else { return nil }
        var weights = [Float](repeating: 0, count: cb * pb)
        var normWeights: [Float]?
        if conceptTarget == .coefficient {
            let target = try CoefficientTarget(basis: basis, lambda: banks[l + 1].lambda, codes: ub, positions: pb)
            guard let slot = target.targets.firstIndex(of: r) else { return nil }
            weights = Array(target.linear[(slot * cb * pb)..<((slot + 1) * cb * pb)])
            normWeights = Array(target.normWeights[(slot * pb)..<((slot + 1) * pb)])
        } else {
            for c in 0..<cb {
                let v = basis.vectors[r * cb + c]
                for pos in 0..<pb where basis.isActive(ub[pos * kb + r]) { weights[c * pb + pos] = v }
            }
        }
        let sources = bases[l].sourceCount
        guard row.nextEdges.count == sources * kb else {
            throw CNNError.corruptFile(path: tracePath, reason: "image \(index) has \(row.nextEdges.count) edges into \(layers[l + 1].name), expected \(sources * kb)")
        }
        return (r, weights, normWeights, (0..<bases[l].count).map { Double(row.nextEdges[$0 * kb + r]) })
    }

    /// One image's curves for every target of `deletion` and every order, added to the blocks `keys`
    /// (one per target). The code-magnitude and random orders are shared by the targets; random
    /// orders come in antithetic pairs (an order and its reverse, which share all their points).
    func evaluate(_ deletion: ConceptDeletion, gig: [[Double]], meanEdge: [[Double]], codes u: [Float], k: Int, signed: Bool,
                  seed: UInt64, keys: [String], classIndex: Int, into accumulators: inout [String: BlockAccumulator]) throws {
        var magnitude = [Double](repeating: 0, count: k)
        for (j, value) in u.enumerated() { magnitude[j % k] += signed ? abs(Double(value)) : Double(value) }
        var rng = SplitMix64(seed: seed)
        var random = [[Int]]()
        while random.count < options.randomOrders {
            let order = Array(0..<k).shuffled(using: &rng)
            random.append(order)
            if random.count < options.randomOrders { random.append(order.reversed()) }
        }
        let targets = deletion.targets.count
        var orders = [ConceptDeletion.order(byDescending: magnitude)] + random
        var named = [[Int]]()   // per target: indices of gig, mean-edge, code-magnitude, gradient × activation
        for t in 0..<targets {
            let gradient = try deletion.gradientTimesActivation(target: t)
            named.append([orders.count, orders.count + 1, 0, orders.count + 2])
            orders += [ConceptDeletion.order(byDescending: gig[t]), ConceptDeletion.order(byDescending: meanEdge[t]),
                       ConceptDeletion.order(byDescending: gradient)]
        }
        let (curves, ends) = try deletion.curves(orders: orders)
        for t in 0..<targets {
            let mine = named[t].map { curves[t][$0] } + curves[t][1...random.count]
            // A target that is not positive at the full layer has no meaningful normalised curve.
            guard ends[t].full > 0, mine.allSatisfy({ $0.deletionAUC.isFinite && $0.insertionAUC.isFinite }) else {
                accumulators[keys[t], default: BlockAccumulator(k: k)].skipped += 1
                continue
            }
            accumulators[keys[t], default: BlockAccumulator(k: k)].add(curves: mine, randomFrom: 4, classIndex: t == 0 ? classIndex : nil)
        }
    }
}
