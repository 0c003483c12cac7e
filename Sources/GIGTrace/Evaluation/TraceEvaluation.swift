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
/// the next traced layer (from every layer but the last). Then the pathway ablation: each image's
/// class loses its top pathway's concepts in every traced layer, against random pathways
/// (`PathwayAblation`).
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
        /// Run the pathway ablation (METHOD §8) too.
        public var pathwayAblation = true
        /// Random pathways per image for the pathway ablation (≥ 20 in METHOD §8).
        public var randomPathways = 20
        /// Overrides of the model file and the dataset's path when they moved since tracing.
        public var modelPath: String?
        public var dataPath: String?
        public var seed: UInt64 = 0
        public var threads = 2
        public var batchSize = 32
        public var quiet = false
        public init() {}
    }

    /// The trace with its model file and dataset.
    public let source: TraceSource
    public let options: Options
    public var tracePath: String { source.path }
    public var reader: TraceReader { source.reader }
    let model: Model
    let layers: [LayerGeometry]
    let banks: [ConceptBank]
    /// Whether the trace's GIG has the error node (METHOD §4).
    let errorNode: Bool
    /// The trace's concept target (METHOD §4): layer targets are evaluated as GIG's were.
    let conceptTarget: ConceptTarget
    let loader: DatasetLoader
    let output: String

    /// Opens the trace, its model and dataset; every problem is one error naming the file or option.
    public init(trace path: String, options: Options) throws {
        guard options.images >= 1 else { throw InputError.invalidParameter(.images, "images must be at least 1, got \(options.images)") }
        guard options.randomOrders >= 1 else {
            throw InputError.invalidParameter(.randomOrders, "random orders must be at least 1, got \(options.randomOrders)")
        }
        guard options.randomPathways >= 1 else {
            throw InputError.invalidParameter(.randomPathways, "random pathways must be at least 1, got \(options.randomPathways)")
        }
        self.options = options
        let source = try TraceSource.open(path, modelPath: options.modelPath, dataPath: options.dataPath)
        self.source = source
        let header = source.reader.header
        model = try source.loadModel(threads: options.threads)
        output = model.outputNames.first ?? ""
        layers = try source.layers(in: model)
        banks = header.banks
        errorNode = header.settings.errorNode
        conceptTarget = try source.conceptTarget()
        loader = try source.spec.makeLoader(batchSize: options.batchSize)
        if let c = options.classIndex, !reader.layout.classNames.indices.contains(c) {
            throw TraceError.invalidSettings("class \(c) is not one of the trace's \(reader.layout.classCount) classes")
        }
    }

    /// The orders compared, in report order; "random" stands for the random orders.
    public static let orderNames = ["gig", "mean-edge", "code-magnitude", "gradient-x-activation", "random"]

    /// Runs the evaluation. `progress(done, total)` after every image.
    public func run(progress: (Int, Int) -> Void = { _, _ in }) throws -> EvaluationReport {
        let started = Date()
        let stored = try reader.database.readImageLayers()
        guard !stored.isEmpty else {
            throw TraceError.invalidSettings("\(tracePath) was traced before per-image edges were stored (schema v2); trace it again to evaluate it")
        }
        var byImage = [Int: [ImageLayerRecord]]()
        for r in stored { byImage[r.image, default: []].append(r) }
        let records = try reader.images().filter { byImage[$0.index]?.count == layers.count }
            .filter { options.classIndex == nil || $0.prediction == options.classIndex }
        guard !records.isEmpty else {
            throw TraceError.invalidSettings("\(tracePath) has no traced images" + (options.classIndex.map { " predicted as \(reader.layout.classNames[$0])" } ?? ""))
        }
        let chosen = Array(records.prefix(options.images))
        let recordOf = Dictionary(uniqueKeysWithValues: chosen.map { ($0.index, $0) })
        try source.checkImages(chosen, in: loader)
        // Images are measured in parallel on one-thread copies of the sub-networks (when the
        // evaluation has one thread, on the model's own).
        let networks = try Networks(model: model, threads: model.threads, layers: layers, output: output)
        let serialNetworks = try Networks(model: model, threads: 1, layers: layers, output: output)
        var accumulators = [String: BlockAccumulator]()
        var ablation = try PathwayAblation(layers: zip(banks, layers).map { .init(bank: $0, geometry: $1) },
                                           networks: networks.pairs + [networks.classes[networks.classes.count - 1]])
        ablation.threads = options.threads
        let pathways = options.pathwayAblation ? topPathways(classes: Set(chosen.map(\.prediction))) : [:]
        var pathwayResults = PathwayAccumulator()
        var done = 0
        let stream = loader.restricted(to: chosen.map(\.index)).stream(prefetchThreads: 0)
        while let batch = try stream.next() {
            let values = try model.forward(batch.images, keep: Set(layers.map(\.name)))
            guard let logits = values[output] else { throw ModelError.unknownTensor(output, available: model.tensorNames) }
            let activations = try layers.map { g in
                guard let x = values[g.name] else { throw ModelError.unknownTensor(g.name, available: model.tensorNames) }
                return x
            }
            let codes = try layers.indices.map { try banks[$0].encode(activations: activations[$0], geometry: layers[$0], threads: options.threads) }
            // The batch's images in parallel, each on one thread (as the trace does), then their
            // curves added in image order, as a one-thread run adds them.
            let images = batch.indices.enumerated().compactMap { i, index -> (Int, Int, ImageRecord, [ImageLayerRecord])? in
                guard let record = recordOf[index], let rows = byImage[index] else { return nil }
                return (i, index, record, rows)
            }
            let workers = min(options.threads, images.count)
            let outcomes: [[(String, Outcome)]]
            do {
                if workers > 1 { BLASThreads.use(1) }
                defer { if workers > 1 { BLASThreads.use(options.threads) } }
                outcomes = try Parallel.map(images.count, workers: workers) { j in
                    let (i, index, record, rows) = images[j]
                    return try measure(image: i, index: index, record: record, rows: rows, logits: logits,
                                       activations: activations, codes: codes, networks: workers > 1 ? serialNetworks : networks)
                }
            }
            for imageOutcomes in outcomes {
                for (key, outcome) in imageOutcomes {
                    switch outcome {
                    case .skipped(let k): accumulators[key, default: BlockAccumulator(k: k)].skipped += 1
                    case .curves(let curves, let k, let classIndex):
                        accumulators[key, default: BlockAccumulator(k: k)].add(curves: curves, randomFrom: 4, classIndex: classIndex)
                    }
                }
                done += 1
                progress(done, chosen.count)
            }
            if options.pathwayAblation {
                try ablate(batch: batch.indices, first: activations[0], predictions: recordOf, pathways: pathways,
                           using: ablation, into: &pathwayResults)
            }
        }
        let order = layers.indices.flatMap { l -> [String] in
            ["\(layers[l].name) → classes"] + (options.layerTargets && l + 1 < layers.count ? ["\(layers[l].name) → \(layers[l + 1].name)"] : [])
        }
        return EvaluationReport(
            trace: tracePath, images: done, randomOrders: options.randomOrders, seconds: Date().timeIntervalSince(started),
            errorNode: reader.header.settings.errorNode,
            blocks: order.compactMap { accumulators[$0]?.block(name: $0, classNames: reader.layout.classNames) },
            pathwayAblation: options.pathwayAblation
                ? pathwayResults.report(randomPathways: options.randomPathways, classNames: reader.layout.classNames,
                                        pathways: pathways.mapValues { path in path.enumerated().map { reader.layout.nodeName(layer: $0, index: $1) } })
                : nil)
    }

    /// Per class, the concepts of its best pathway (PathwayFinder over the images labelled with the
    /// class, as `query pathways`) among those made of concepts only — error and mean nodes cannot
    /// be removed by setting codes to 0. Classes without one are left out.
    func topPathways(classes: Set<Int>) -> [Int: [Int]] {
        var result = [Int: [Int]]()
        for c in classes {
            let found = PathwayFinder.best(in: reader.graph, classIndex: c, top: 64, group: .label(c), exemplars: 0)
            if let path = found.first(where: { $0.steps.allSatisfy { $0.index < banks[$0.layer].k } }) {
                result[c] = path.steps.map(\.index)
            }
        }
        return result
    }

    /// The pathway ablation of one batch's evaluated images: per image one unablated row, its
    /// class's top pathway and `randomPathways` random ones (one uniform concept per traced layer,
    /// SplitMix64 seeded by (seed, image)), all in one pass through the traced layers.
    func ablate(batch indices: [Int], first: Tensor, predictions: [Int: ImageRecord], pathways: [Int: [Int]],
                using ablation: PathwayAblation, into results: inout PathwayAccumulator) throws {
        var rows = [Int](), paths = [[Int?]](), images = [(index: Int, classIndex: Int)]()
        let none = [Int?](repeating: nil, count: layers.count)
        for (i, index) in indices.enumerated() {
            guard let record = predictions[index] else { continue }
            guard let top = pathways[record.prediction] else {
                results.skipped += 1
                continue
            }
            var rng = SplitMix64(seed: options.seed ^ (UInt64(index) &* 0xD1B5_4A32_D192_ED03) ^ 0x5041_5448)
            let random = (0..<options.randomPathways).map { _ in banks.map { Optional(Int.random(in: 0..<$0.k, using: &rng)) } }
            rows += Array(repeating: i, count: 2 + random.count)
            paths += [none, top.map(Optional.init)] + random
            images.append((index, record.prediction))
        }
        guard !rows.isEmpty else { return }
        let logits = try ablation.logits(first: first, images: rows, pathways: paths)
        let classes = logits.count / rows.count, per = 2 + options.randomPathways
        func row(_ r: Int) -> ArraySlice<Float> { logits[(r * classes)..<((r + 1) * classes)] }
        func predicts(_ r: Int, _ c: Int) -> Bool {
            let v = row(r)
            return !v.indices.contains { v[$0] > v[v.startIndex + c] || (v[$0] == v[v.startIndex + c] && $0 - v.startIndex < c) }
        }
        for (j, image) in images.enumerated() {
            let c = image.classIndex, base = j * per
            let randomRows = (base + 2)..<(base + per)
            results.add(classIndex: c, real: Double(row(base)[row(base).startIndex + c]),
                        pathway: Double(row(base + 1)[row(base + 1).startIndex + c]),
                        random: randomRows.map { Double(row($0)[row($0).startIndex + c]) },
                        keptPathway: predicts(base + 1, c), keptRandom: randomRows.map { predicts($0, c) })
        }
    }

    /// Concept contributions x_q = v_q u_{·,q} (C·P each, the layer's layout) and the fixed part:
    /// PCA's mean, plus E = X − X̃ with the error node.
    func split(layer l: Int, activation x: [Float], codes u: [Float]) -> (contributions: [[Float]], fixed: [Float]) {
        let bank = banks[l], c = layers[l].channels, p = layers[l].positions, k = bank.k
        var contributions = [[Float]](repeating: [Float](repeating: 0, count: c * p), count: k)
        var reconstruction = [Float](repeating: 0, count: c * p)
        for q in 0..<k {
            for ch in 0..<c {
                let v = bank.concepts.data[q * c + ch]
                guard v != 0 else { continue }
                for pos in 0..<p {
                    let value = v * u[pos * k + q]
                    contributions[q][ch * p + pos] = value
                    reconstruction[ch * p + pos] += value
                }
            }
        }
        var fixed = [Float](repeating: 0, count: c * p)
        if let mean = bank.mean {
            for ch in 0..<c { for pos in 0..<p { fixed[ch * p + pos] = mean[ch]; reconstruction[ch * p + pos] += mean[ch] } }
        }
        if errorNode {
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
        let bank = banks[l + 1], kb = bank.k, pb = layers[l + 1].positions, cb = layers[l + 1].channels
        let ub = Array(codes.data[(i * pb * kb)..<((i + 1) * pb * kb)])
        var sums = [Double](repeating: 0, count: kb)
        for pos in 0..<pb { for r in 0..<kb where bank.isActive(ub[pos * kb + r]) { sums[r] += abs(Double(ub[pos * kb + r])) } }
        guard let r = sums.indices.max(by: { sums[$0] < sums[$1] || (sums[$0] == sums[$1] && $0 > $1) }), sums[r] > 0 else { return nil }
        var weights = [Float](repeating: 0, count: cb * pb)
        var normWeights: [Float]?
        if conceptTarget == .coefficient {
            let target = try CoefficientTarget(bank: bank, lambda: bank.supportLambda, codes: ub, positions: pb)
            guard let slot = target.targets.firstIndex(of: r) else { return nil }
            weights = Array(target.linear[(slot * cb * pb)..<((slot + 1) * cb * pb)])
            normWeights = Array(target.normWeights[(slot * pb)..<((slot + 1) * pb)])
        } else {
            for c in 0..<cb {
                let v = bank.concepts.data[r * cb + c]
                for pos in 0..<pb where bank.isActive(ub[pos * kb + r]) { weights[c * pb + pos] = v }
            }
        }
        let sources = banks[l].gigSourceCount(errorNode: errorNode)
        guard row.nextEdges.count == sources * kb else {
            throw InputError.corruptFile(path: tracePath, reason: "image \(index) has \(row.nextEdges.count) edges into \(layers[l + 1].name), expected \(sources * kb)")
        }
        return (r, weights, normWeights, (0..<banks[l].k).map { Double(row.nextEdges[$0 * kb + r]) })
    }

    /// The sub-networks from each traced layer to the logits and to the next traced layer.
    struct Networks: Sendable {
        var classes: [Subnetwork]
        var pairs: [Subnetwork]

        /// The sub-networks of a copy of `model` that runs on `threads` threads.
        init(model: Model, threads: Int, layers: [LayerGeometry], output: String) throws {
            var copy = model
            copy.threads = threads
            classes = try layers.map { try copy.subnetwork(from: $0.name, to: output) }
            pairs = try zip(layers, layers.dropFirst()).map { try copy.subnetwork(from: $0.name, to: $1.name) }
        }
    }

    /// What one image gives one block: its curves (the named orders, then the random ones), or
    /// skipped when the target is not positive at the full layer.
    enum Outcome: Sendable {
        case skipped(k: Int)
        case curves([ConceptDeletion.Curves], k: Int, classIndex: Int?)
    }

    /// One image's deletion and insertion curves in every traced layer, keyed by block name.
    func measure(image i: Int, index: Int, record: ImageRecord, rows: [ImageLayerRecord], logits: Tensor,
                 activations: [Tensor], codes: [Matrix], networks: Networks) throws -> [(String, Outcome)] {
        let classes = logits.count / max(1, logits.shape[0])
        let scores = Array(logits.data[(i * classes)..<((i + 1) * classes)])
        let prediction = scores.indices.max { scores[$0] < scores[$1] || (scores[$0] == scores[$1] && $0 > $1) } ?? 0
        guard prediction == record.prediction else {
            throw TraceError.invalidSettings("image \(index) is now predicted as class \(prediction), the trace says \(record.prediction): "
                + "the dataset or its preprocessing changed since \(tracePath) was traced")
        }
        var outcomes = [(String, Outcome)]()
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
            var targets = [ConceptDeletion.Target(tensor: output, weights: w, gradientNetwork: networks.classes[l])]
            var gig = [row.classRelevance.prefix(k).map(Double.init)]
            var means = [(0..<k).map { reader.graph.classEdge(layer: l, source: $0, classIndex: prediction).mean }]
            var names = ["\(layers[l].name) → classes"]
            // Layer target: the image's strongest active concept of the next layer.
            if options.layerTargets, l + 1 < layers.count,
               let next = try nextTarget(layer: l, image: i, codes: codes[l + 1], row: row, index: index) {
                targets.append(ConceptDeletion.Target(tensor: layers[l + 1].name, weights: next.weights, gradientNetwork: networks.pairs[l],
                                                      normWeights: next.normWeights))
                gig.append(next.gig)
                means.append((0..<k).map { reader.graph.layerEdge(layer: l, source: $0, target: next.concept).mean })
                names.append("\(layers[l].name) → \(layers[l + 1].name)")
            }
            let deletion = try ConceptDeletion(subnetwork: networks.classes[l], contributions: contributions, fixed: fixed, targets: targets)
            outcomes += try evaluate(deletion, gig: gig, meanEdge: means, codes: u, k: k, signed: banks[l].signedCodes,
                                     seed: options.seed ^ (UInt64(index) &* 0x9E37_79B9_7F4A_7C15) ^ UInt64(l),
                                     keys: names, classIndex: prediction)
        }
        return outcomes
    }

    /// One image's curves for every target of `deletion` and every order, one outcome per target
    /// for the blocks `keys`. The code-magnitude and random orders are shared by the targets; random
    /// orders come in antithetic pairs (an order and its reverse, which share all their points).
    func evaluate(_ deletion: ConceptDeletion, gig: [[Double]], meanEdge: [[Double]], codes u: [Float], k: Int, signed: Bool,
                  seed: UInt64, keys: [String], classIndex: Int) throws -> [(String, Outcome)] {
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
        return (0..<targets).map { t in
            let mine = named[t].map { curves[t][$0] } + curves[t][1...random.count]
            // A target that is not positive at the full layer has no meaningful normalised curve.
            guard ends[t].full > 0, mine.allSatisfy({ $0.deletionAUC.isFinite && $0.insertionAUC.isFinite }) else {
                return (keys[t], .skipped(k: k))
            }
            return (keys[t], .curves(mine, k: k, classIndex: t == 0 ? classIndex : nil))
        }
    }
}
