import CNN
import Concepts
import Core
import Datasets
import PFV

/// Traces batches of images (METHOD §4–5): one forward pass per batch keeping the traced layers,
/// every layer's PFVs coded with its concept bank in one call per layer, then per image GIG for each
/// consecutive layer pair and from each layer to the classes (all active targets of an image as
/// one block of cotangents), and each concept's strongest PFV as an exemplar candidate.
public struct BatchTracer: Sendable {
    public let model: Model
    public let layers: [LayerGeometry]
    public let banks: [ConceptBank]
    public let classCount: Int
    /// Graph output holding the logits.
    public let output: String
    /// Share of |iERF| mass an exemplar's patch box covers.
    public let exemplarMass: Double
    /// Codes are computed with this many threads of our own (coordinate descent).
    public let codingThreads: Int
    /// Whether GIG adds the error node ε to every layer's sources (METHOD §4).
    public let errorNode: Bool
    /// GIG layer l → l+1, then layer l → classes, on `model` (one image at a time, the integration
    /// steps split between its threads) ...
    let gig: GIGComputations
    /// ... and on a single-threaded copy of it (several images at once, one per thread).
    let serialGIG: GIGComputations
    let receptiveFields: [ReceptiveFieldTracer]

    /// Throws when the layers do not run forward (each computed from the previous one alone, every
    /// path to the logits through each), or a bank does not fit its layer.
    public init(model: Model, layers: [LayerGeometry], banks: [ConceptBank], quadrature: Quadrature,
                exemplarMass: Double = 0.9, codingThreads: Int = 1, mode: GIGComputation.Mode = .auto,
                errorNode: Bool = false, conceptTarget: ConceptTarget = .projection) throws {
        guard !layers.isEmpty, banks.count == layers.count else {
            throw TraceError.invalidRequest("\(banks.count) concept banks for \(layers.count) traced layers")
        }
        let (out, classes) = try Self.classLogits(of: model)
        for (g, bank) in zip(layers, banks) where bank.channels != g.channels {
            throw TraceError.shapeMismatch("concept bank of '\(bank.layer)' has \(bank.channels) channels, layer '\(g.name)' has \(g.channels)")
        }
        self.model = model
        self.layers = layers
        self.banks = banks
        classCount = classes
        output = out
        self.exemplarMass = exemplarMass
        self.codingThreads = codingThreads
        self.errorNode = errorNode
        gig = try GIGComputations(model: model, layers: layers.map(\.name), banks: banks, errorNode: errorNode, output: out,
                                  classes: classes, quadrature: quadrature, mode: mode, conceptTarget: conceptTarget)
        var serial = model
        serial.threads = 1
        serialGIG = try GIGComputations(model: serial, layers: layers.map(\.name), banks: banks, errorNode: errorNode, output: out,
                                        classes: classes, quadrature: quadrature, mode: mode, conceptTarget: conceptTarget)
        receptiveFields = try layers.map { try ReceptiveFieldTracer(model: model, layer: $0.name) }
    }

    /// The model's class-logit output and the number of classes; throws when its first output is
    /// not a vector.
    public static func classLogits(of model: Model) throws -> (output: String, classes: Int) {
        let out = model.outputNames.first ?? ""
        guard let logits = model.tensorShapes[out], logits.count == 1 else {
            throw TraceError.invalidRequest("the model's output '\(out)' is not a vector of class logits")
        }
        return (out, logits[0])
    }

    /// One `ImageTrace` per image of `batch`. Each concept's strongest PFV in the image is offered
    /// as an exemplar with a placeholder box; `placeExemplars` decides which to keep and boxes them.
    /// The image's completeness error pools all its GIG blocks: Σ|Σ_q A − Δg| / Σ|Δg| over every
    /// target of every layer pair and of the classes; its reconstruction gap is the mean over the
    /// traced layers of the logit gap (METHOD §4), and each layer gets its `LayerFaithfulness`.
    /// An image without a label (the dataset has none) is recorded with its prediction as label.
    /// With `model.threads` > 1 and several images, the images' GIG runs on that many threads, one
    /// image each (single-threaded OpenBLAS), each image's numbers as in a single-threaded run.
    public func trace(_ batch: DataBatch) throws -> [ImageTrace] {
        let n = batch.indices.count
        guard n > 0 else { return [] }
        let values = try model.forward(batch.images, keep: Set(layers.map(\.name)))
        guard let logits = values[output] else { throw ModelError.unknownTensor(output, available: model.tensorNames) }
        let activations = try layers.map { g in
            guard let x = values[g.name] else { throw ModelError.unknownTensor(g.name, available: model.tensorNames) }
            return x
        }
        let codes = try layers.indices.map { l in
            try banks[l].encode(activations: activations[l], geometry: layers[l], threads: codingThreads)
        }
        let workers = min(model.threads, n)
        guard workers > 1 else {
            return try (0..<n).map { try traceImage($0, of: batch, logits: logits, activations: activations, codes: codes, gig: gig) }
        }
        BLASThreads.use(1)
        defer { BLASThreads.use(model.threads) }
        return try Parallel.map(n, workers: workers) { i in
            try traceImage(i, of: batch, logits: logits, activations: activations, codes: codes, gig: serialGIG)
        }
    }

    /// The trace of image `i` of `batch` from the batch's logits, traced activations and codes.
    func traceImage(_ i: Int, of batch: DataBatch, logits: Tensor, activations: [Tensor], codes: [Matrix],
                    gig: GIGComputations) throws -> ImageTrace {
        let scores = Array(logits.data[(i * classCount)..<((i + 1) * classCount)])
        let prediction = scores.indices.max { scores[$0] < scores[$1] || (scores[$0] == scores[$1] && $0 > $1) } ?? 0
        let label = batch.labels[i] >= 0 && batch.labels[i] < classCount ? batch.labels[i] : prediction
        let imageCodes = layers.indices.map { l in
            Array(codes[l].data[(i * layers[l].positions * banks[l].k)..<((i + 1) * layers[l].positions * banks[l].k)])
        }
        var missing = 0.0, scale = 0.0
        func account(_ r: GIGComputation.Result) {
            let s = r.delta.reduce(0) { $0 + abs($1) }
            if s > 0 { missing += r.completenessError * s; scale += s }
        }
        let realLayers = layers.indices.map { l in
            let size = layers[l].channels * layers[l].positions
            return Array(activations[l].data[(i * size)..<((i + 1) * size)])
        }
        let realLogits = Tensor(uncheckedShape: [classCount], data: scores)
        var layerEdges = [EdgeMatrix](), targetActive = [[Bool]]()
        var toClasses = [GIGComputation.Result?](repeating: nil, count: gig.classes.count)
        for l in gig.layers.indices {
            let next = layers[l + 1]
            let real = Tensor(uncheckedShape: [next.channels, next.height, next.width],
                              data: Array(activations[l + 1].data[(i * next.channels * next.positions)..<((i + 1) * next.channels * next.positions)]))
            let r: GIGComputation.Result
            if gig.joint[l] {
                (r, toClasses[l]) = try GIGComputation.computeJointly(
                    toNext: gig.layers[l], toClasses: gig.classes[l], sourceCodes: imageCodes[l],
                    realNext: real, nextCodes: imageCodes[l + 1], realLogits: realLogits, sourceActivation: realLayers[l])
            } else {
                r = try gig.layers[l].compute(sourceCodes: imageCodes[l], realTarget: real, targetCodes: imageCodes[l + 1],
                                              sourceActivation: realLayers[l])
            }
            layerEdges.append(EdgeMatrix(rows: r.sourceCount, columns: r.targetCount, values: r.relevance))
            targetActive.append(r.activeTargets)
            account(r)
        }
        var classEdges = [EdgeMatrix](), faithfulness = [LayerFaithfulness]()
        for l in gig.classes.indices {
            let r: GIGComputation.Result
            if let computed = toClasses[l] {
                r = computed
            } else if let generalized = gig.generalized[l] {
                r = try gig.classes[l].computeGeneralized(generalized, sourceCodes: imageCodes[l], realTarget: realLogits)
            } else {
                r = try gig.classes[l].compute(sourceCodes: imageCodes[l], realTarget: realLogits, targetCodes: nil,
                                               sourceActivation: realLayers[l])
            }
            let edges = EdgeMatrix(rows: r.sourceCount, columns: r.targetCount, values: r.relevance)
            classEdges.append(edges)
            faithfulness.append(LayerFaithfulness(result: r, edges: edges, predicted: prediction, errorIndex: gig.classes[l].errorIndex))
            account(r)
        }
        return ImageTrace(
            index: batch.indices[i], label: label, prediction: prediction, layerEdges: layerEdges, targetActive: targetActive,
            classEdges: classEdges, layerCodes: layers.indices.map { layerCodes(imageCodes[$0], layer: $0, image: batch.indices[i]) },
            completenessError: scale > 0 ? missing / scale : 0,
            reconstructionGap: faithfulness.isEmpty ? 0 : faithfulness.map(\.logitGap).reduce(0, +) / Double(faithfulness.count),
            faithfulness: faithfulness)
    }

    /// Keeps the exemplar candidates of `trace` that `keep(layer, node, candidate)` accepts and gives
    /// each the box covering `exemplarMass` of its iERF (METHOD §2) on image `position` of `images`.
    public func placeExemplars(_ trace: inout ImageTrace, images: Tensor, position: Int,
                               keep: (_ layer: Int, _ node: Int, _ candidate: ConceptExemplar) -> Bool) throws {
        for l in layers.indices {
            var wanted = [(node: Int, slot: Int)]()
            for q in trace.layerCodes[l].topPFVs.indices {
                trace.layerCodes[l].topPFVs[q] = trace.layerCodes[l].topPFVs[q].filter { keep(l, q, $0) }
                for s in trace.layerCodes[l].topPFVs[q].indices { wanted.append((q, s)) }
            }
            guard !wanted.isEmpty else { continue }
            var positions = [PFVPosition]()
            var slotOf = [PFVPosition: Int]()
            for w in wanted {
                let e = trace.layerCodes[l].topPFVs[w.node][w.slot]
                let p = PFVPosition(h: e.h, w: e.w)
                if slotOf[p] == nil { slotOf[p] = positions.count; positions.append(p) }
            }
            let maps = try receptiveFields[l].maps(images: images, index: position, positions: positions, method: .srd)
            let (h, w) = (maps.maps.shape[1], maps.maps.shape[2])
            let boxes = try positions.indices.map {
                try PatchBox.covering(maps.map($0), height: h, width: w, mass: exemplarMass)
            }
            for wnt in wanted {
                let e = trace.layerCodes[l].topPFVs[wnt.node][wnt.slot]
                if let i = slotOf[PFVPosition(h: e.h, w: e.w)] { trace.layerCodes[l].topPFVs[wnt.node][wnt.slot].box = boxes[i] }
            }
        }
    }

    /// Code sums, active positions and the strongest PFV per source node of one image's P×K codes.
    func layerCodes(_ codes: [Float], layer l: Int, image: Int) -> LayerCodes {
        let g = layers[l], bank = banks[l], k = bank.k, p = g.positions, sources = gig.classes[l].sourceCount
        var sums = [Float](repeating: 0, count: sources)
        var active = [Int](repeating: 0, count: sources)
        var best = [(code: Float, position: Int)?](repeating: nil, count: k)
        for pos in 0..<p {
            for q in 0..<k {
                let u = codes[pos * k + q]
                sums[q] += u
                guard bank.isActive(u) else { continue }
                active[q] += 1
                if u > 0, best[q].map({ u > $0.code }) ?? true { best[q] = (u, pos) }
            }
        }
        if bank.mean != nil {
            sums[k] = Float(p)
            active[k] = p
        }
        if let e = gig.classes[l].errorIndex {   // code 1 at every position, like the mean node
            sums[e] = Float(p)
            active[e] = p
        }
        let placeholder = PatchBox(x0: 0, y0: 0, x1: 0, y1: 0)
        var top = [[ConceptExemplar]](repeating: [], count: sources)
        for q in 0..<k {
            guard let b = best[q] else { continue }
            top[q] = [ConceptExemplar(image: image, h: b.position / g.width, w: b.position % g.width, code: b.code, box: placeholder)]
        }
        return LayerCodes(positionCount: p, codeSums: sums, activePositions: active, topPFVs: top)
    }

    /// The PFVs of a `[N, C, H, W]` activation as an (N·H·W) × C matrix, image-major then row-major positions.
    static func pfvRows(_ x: Tensor, _ g: LayerGeometry) throws -> Matrix {
        let n = x.shape.first ?? 0, c = g.channels, p = g.positions
        var rows = [Float](repeating: 0, count: n * p * c)
        x.data.withUnsafeBufferPointer { src in
            rows.withUnsafeMutableBufferPointer { dst in
                for i in 0..<n {
                    for ch in 0..<c {
                        let from = (i * c + ch) * p, to = i * p * c + ch
                        for pos in 0..<p { dst[to + pos * c] = src[from + pos] }
                    }
                }
            }
        }
        return try Matrix(rows: n * p, cols: c, data: rows)
    }
}
