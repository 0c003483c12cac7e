import Foundation
import GRDB
import Testing
@testable import CNN
@testable import Concepts
@testable import Core
@testable import Datasets
@testable import GIGTrace
@testable import PFV
import TestSupport

/// METHOD §4 (error node) and §8 (evaluation): completeness against the real model with the error
/// node, deletion on a model whose true graph is known, the evaluation of a small demo trace
/// (JSON against its schema) and its bad inputs.
@Suite(.serialized) struct EvaluationTests {
    static let stage1 = "/stage1/relu/Relu_output_0"
    static let stage2 = "/stage2/relu/Relu_output_0"
    static let stage3 = "/stage3/relu/Relu_output_0"

    /// A toy network: a = ReLU(x) with 4 channels at one position, logits = 1×1 conv of a:
    /// logit 0 = 3 a₀ + 0.2 (a₁ + a₂ + a₃), logit 1 = a₁ + a₂. Concept 0 alone drives class 0.
    static func toyModel() throws -> Model {
        let weights = Tensor(uncheckedShape: [2, 4, 1, 1], data: [3, 0.2, 0.2, 0.2, 0, 1, 1, 0])
        let nodes = [
            OnnxNode(name: "relu", opType: "Relu", domain: "", inputs: ["x"], outputs: ["a"], attributes: [:]),
            OnnxNode(name: "conv", opType: "Conv", domain: "", inputs: ["a", "w"], outputs: ["b"], attributes: [:]),
            OnnxNode(name: "flat", opType: "Flatten", domain: "", inputs: ["b"], outputs: ["logits"], attributes: [:]),
        ]
        let graph = OnnxGraph(name: "toy", nodes: nodes, initializers: ["w": .float(weights)],
                              inputs: [ValueInfo(name: "x", elementType: 1, shape: [.symbolic("N"), .fixed(4), .fixed(1), .fixed(1)])],
                              outputs: [ValueInfo(name: "logits", elementType: 1, shape: nil)], valueInfo: [])
        return try Model(onnx: OnnxModel(irVersion: 8, opsetVersion: 17, producerName: "test", producerVersion: "", graph: graph))
    }

    @Test func toyModelDeletionRanksTheDrivingConceptFirst() throws {
        let model = try Self.toyModel()
        let a: [Float] = [1, 2, 1.5, 1]   // layer a for one image (C = 4, P = 1)
        let bank = ConceptBank.identity(channels: 4, layer: "a")
        let gig = try GIGComputation(subnetwork: model.subnetwork(from: "a", to: "logits"), source: bank,
                                     target: .classes(count: 2), quadrature: Quadrature(method: .gaussLegendre, steps: 8))
        let r = try gig.compute(sourceCodes: a, realTarget: Tensor(uncheckedShape: [2], data: [3.9, 3.5]), targetCodes: nil)
        let edges = (0..<4).map { Double(r.relevance[$0 * 2]) }   // A(q → class 0)
        // By hand: A(q→0) = w_q a_q = 3, 0.4, 0.3, 0.2.
        #expect(zip(edges, [3, 0.4, 0.3, 0.2]).allSatisfy { abs($0 - $1) < 1e-5 })
        let contributions = (0..<4).map { q in (0..<4).map { $0 == q ? a[q] : Float(0) } }
        let sub = try model.subnetwork(from: "a", to: "logits")
        let deletion = try ConceptDeletion(subnetwork: sub, contributions: contributions, fixed: [0, 0, 0, 0],
                                           targets: [.init(tensor: "logits", weights: [1, 0], gradientNetwork: sub)])
        let gigOrder = ConceptDeletion.order(byDescending: edges)
        #expect(gigOrder.first == 0)
        var rng = SplitMix64(seed: 1)
        let random = (0..<20).map { _ in Array(0..<4).shuffled(using: &rng) }
        let (all, allEnds) = try deletion.curves(orders: [gigOrder] + random)
        let (curves, ends) = (all[0], allEnds[0])
        // logit 0 at the full layer: 3 + 0.2·4.5 = 3.9; deleting concept 0 first leaves 0.9/3.9.
        #expect(abs(ends.full - 3.9) < 1e-5 && abs(ends.baseline) < 1e-6)
        #expect(abs(curves[0].deletion[1] - 0.9 / 3.9) < 1e-5)
        // Trapezoid by hand for the GIG order 0,1,2,3: points 1, 0.9/3.9, 0.5/3.9, 0.2/3.9, 0.
        let expected = (1 + 2 * (0.9 + 0.5 + 0.2) / 3.9 + 0) / 8
        #expect(abs(curves[0].deletionAUC - expected) < 1e-6)
        let randomMean = curves.dropFirst().map(\.deletionAUC).reduce(0, +) / 20
        #expect(curves[0].deletionAUC < randomMean)
        #expect(curves[0].insertionAUC > curves.dropFirst().map(\.insertionAUC).reduce(0, +) / 20)
        // Gradient × activation of the toy is the same w_q a_q.
        #expect(zip(try deletion.gradientTimesActivation(target: 0), [3, 0.4, 0.3, 0.2]).allSatisfy { abs($0 - $1) < 1e-5 })
    }

    /// A two-layer toy whose true pathway is planted: x → a = ReLU(x) (6 channels, 1 position) →
    /// b = ReLU(W₁a + c₁) (4 channels) → logits = W₂b, with b₀ = ReLU(2a₀ + 0.1a₁ + 0.1) and logit 0 = 3b₀ + …:
    /// the path a₀ → b₀ → class 0 carries the class.
    static func pathwayToyModel() throws -> Model {
        let w1 = Tensor(uncheckedShape: [4, 6, 1, 1], data: [2, 0.1, 0, 0, 0, 0,  0, 1, 1, 0, 0, 0,  0.1, 0, 0, 1, 1, 0,  0, 0, 0, 0, 1, 1])
        let c1 = Tensor(uncheckedShape: [4], data: [0.1, -0.2, 0.05, 0])   // a bias: f(0) ≠ 0 in F's affine part
        let w2 = Tensor(uncheckedShape: [2, 4, 1, 1], data: [3, 0.2, 0.2, 0, 0, 1, 1, 0.5])
        let nodes = [
            OnnxNode(name: "relu_a", opType: "Relu", domain: "", inputs: ["x"], outputs: ["a"], attributes: [:]),
            OnnxNode(name: "conv1", opType: "Conv", domain: "", inputs: ["a", "w1", "c1"], outputs: ["z"], attributes: [:]),
            OnnxNode(name: "relu_b", opType: "Relu", domain: "", inputs: ["z"], outputs: ["b"], attributes: [:]),
            OnnxNode(name: "conv2", opType: "Conv", domain: "", inputs: ["b", "w2"], outputs: ["c"], attributes: [:]),
            OnnxNode(name: "flat", opType: "Flatten", domain: "", inputs: ["c"], outputs: ["logits"], attributes: [:]),
        ]
        let graph = OnnxGraph(name: "pathway-toy", nodes: nodes, initializers: ["w1": .float(w1), "c1": .float(c1), "w2": .float(w2)],
                              inputs: [ValueInfo(name: "x", elementType: 1, shape: [.symbolic("N"), .fixed(6), .fixed(1), .fixed(1)])],
                              outputs: [ValueInfo(name: "logits", elementType: 1, shape: nil)], valueInfo: [])
        return try Model(onnx: OnnxModel(irVersion: 8, opsetVersion: 17, producerName: "test", producerVersion: "", graph: graph))
    }

    /// Pathway ablation on the planted toy: layer a has the identity bank, layer b a PCA bank with a
    /// mean and rotated concepts. Every one of the 6 × 4 pathways' logits equal an independent NumPy
    /// computation (remove v_q ⟨v_q, y − mean⟩ at each layer), and the planted pathway a:0 → b:0
    /// drops class 0 more than twice as much as the other pathways on average and flips the
    /// prediction, which most of them do not (those through a:0 or b:0 do).
    @Test func pathwayAblationOfAPlantedPathwayMatchesNumPyAndBeatsRandom() throws {
        let model = try Self.pathwayToyModel()
        func bank(_ layer: String, _ method: ConceptMethod, _ rows: Int, _ cols: Int, _ v: [Float], mean: [Float]?) throws -> ConceptBank {
            try ConceptBank.restored(layer: layer, method: method, concepts: Matrix(rows: rows, cols: cols, data: v), mean: mean,
                                     lambda: 0, codingMaxSweeps: 10, codingTolerance: 1e-6, sample: ConceptSample(seed: 0, count: 1),
                                     r2: 1, meanNonzeros: 1, activeShare: Array(repeating: 1, count: rows))
        }
        let bankA = try bank("a", .identity, 6, 6, (0..<36).map { $0 % 7 == 0 ? 1 : 0 }, mean: nil)
        let bankB = try bank("b", .pca, 4, 4, [1, 0, 0, 0, 0, 0.6, 0.8, 0, 0, 0.8, -0.6, 0, 0, 0, 0, 1], mean: [0, 0.2, 0.3, 0.1])
        let ablation = try PathwayAblation(
            layers: [.init(bank: bankA, geometry: LayerGeometry(model: model, layer: "a")),
                     .init(bank: bankB, geometry: LayerGeometry(model: model, layer: "b"))],
            networks: [model.subnetwork(from: "a", to: "b"), model.subnetwork(from: "b", to: "logits")])
        let a = Tensor(uncheckedShape: [1, 6, 1, 1], data: [1, 2, 1.5, 1, 0.5, 0.8])
        var paths: [[Int?]] = [[nil, nil]]
        for q in 0..<6 { for r in 0..<4 { paths.append([q, r]) } }
        let logits = try ablation.logits(first: a, images: Array(repeating: 0, count: paths.count), pathways: paths)
        let reference = try runPython("""
            import numpy as np, itertools
            w1 = np.array([[2, 0.1, 0, 0, 0, 0], [0, 1, 1, 0, 0, 0], [0.1, 0, 0, 1, 1, 0], [0, 0, 0, 0, 1, 1]]); c1 = np.array([0.1, -0.2, 0.05, 0])
            w2 = np.array([[3, 0.2, 0.2, 0], [0, 1, 1, 0.5]])
            vb = np.array([[1, 0, 0, 0], [0, 0.6, 0.8, 0], [0, 0.8, -0.6, 0], [0, 0, 0, 1]]); mean = np.array([0, 0.2, 0.3, 0.1])
            def run(q, r):
                a = np.array([1, 2, 1.5, 1, 0.5, 0.8])
                if q is not None: a[q] = 0
                b = np.maximum(w1 @ a + c1, 0)
                if r is not None: b = b - vb[r] * (vb[r] @ (b - mean))
                return w2 @ b
            rows = [run(None, None)] + [run(q, r) for q, r in itertools.product(range(6), range(4))]
            print(" ".join("%.8f" % v for row in rows for v in row))
            """)
        let expected = reference.split(separator: " ").compactMap { Double($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        #expect(expected.count == logits.count && expected.count == 50)
        #expect(zip(logits, expected).allSatisfy { abs(Double($0) - $1) < 1e-5 }, "\(logits) vs NumPy \(expected)")
        // Planted a:0 → b:0 is row 1; drops of class 0 against the unablated row 0.
        let drops: [Double] = (1..<paths.count).map { (r: Int) -> Double in Double(logits[0] - logits[2 * r]) }
        let planted = drops[0], othersMean = drops.dropFirst().reduce(0, +) / Double(drops.count - 1)
        #expect(planted > 2 * othersMean, "drops \(drops)")
        #expect(logits[0] > logits[1] && logits[2] < logits[3], "the planted pathway flips the prediction to class 1")
        let keeping: Int = (1..<paths.count).filter { (r: Int) -> Bool in logits[2 * r] > logits[2 * r + 1] }.count
        #expect(keeping >= 12, "most pathways keep class 0")
    }

    /// Deletion through a non-linear F (the planted toy from layer a: conv, ReLU, conv): only the
    /// nodes after the affine frontier (conv1's output) run per concept set, and the curves equal a
    /// NumPy forward pass of every set (fixed part included), on one thread and split on two.
    @Test(arguments: [1, 2]) func deletionThroughANonLinearNetworkMatchesNumPy(threads: Int) throws {
        var model = try Self.pathwayToyModel()
        model.threads = threads   // 2: each chunk split between two threads
        let sub = try model.subnetwork(from: "a", to: "logits")
        #expect(sub.affineFrontier() == ["z"])
        let a: [Float] = [1, 2, 1.5, 1, 0.5, 0.8], fixed: [Float] = [0.1, -0.2, 0, 0.3, 0, 0.05]
        let contributions = (0..<6).map { q in (0..<6).map { $0 == q ? a[q] : Float(0) } }
        var deletion = try ConceptDeletion(subnetwork: sub, contributions: contributions, fixed: fixed,
                                           targets: [.init(tensor: "logits", weights: [1, 0], gradientNetwork: sub)])
        deletion.chunkRows = 3   // several chunks
        let order = [2, 0, 5, 1, 4, 3]
        let (curves, ends) = try deletion.curves(orders: [order])
        let reference = try runPython("""
            import numpy as np
            w1 = np.array([[2, 0.1, 0, 0, 0, 0], [0, 1, 1, 0, 0, 0], [0.1, 0, 0, 1, 1, 0], [0, 0, 0, 0, 1, 1]]); c1 = np.array([0.1, -0.2, 0.05, 0])
            w2 = np.array([[3, 0.2, 0.2, 0], [0, 1, 1, 0.5]])
            a = np.array([1, 2, 1.5, 1, 0.5, 0.8]); fixed = np.array([0.1, -0.2, 0, 0.3, 0, 0.05])
            f = lambda present: (w2 @ np.maximum(w1 @ (fixed + a * present) + c1, 0))[0]
            order = [2, 0, 5, 1, 4, 3]; full = f(np.ones(6))
            dele, ins = [], []
            for k in range(7):
                gone = np.zeros(6); gone[order[:k]] = 1
                dele.append(f(1 - gone) / full); ins.append(f(gone) / full)
            print(full, f(np.zeros(6)), " ".join("%.8f" % v for v in dele + ins))
            """).split(separator: " ").compactMap { Double($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        #expect(reference.count == 16)
        #expect(abs(ends[0].full - reference[0]) < 1e-5 && abs(ends[0].baseline - reference[1]) < 1e-5)
        let curve = curves[0][0].deletion + curves[0][0].insertion
        #expect(zip(curve, reference.dropFirst(2)).allSatisfy { abs($0 - $1) < 1e-5 }, "\(curve) vs NumPy \(reference)")
    }

    /// With the error node the concept → class edges of the demo model add up to the real model's
    /// logit difference logit_c(X) − logit_c(F(0)) (X the real layer, from the full forward pass);
    /// without it they add up to the reconstruction's and miss the real logits by far more.
    @Test func errorNodeMakesCompletenessHoldAgainstTheRealModel() throws {
        let model = try Model.load(path: TestPaths.demoModel)
        let spec = DatasetSpec(data: TestPaths.fashionMNISTTestImages, preprocessing: Preprocessing(mean: [0.2860], std: [0.3530]),
                               selection: DatasetSelection(limit: 60))
        let all = try spec.makeLoader(batchSize: 60).batch(0)
        let learn = try PFVBatch(images: all.images.slice(batch: 0..<50), labels: Array(all.labels[0..<50]), imageIndices: Array(0..<50))
        let extractor = try PFVExtractor(model: model, layer: Self.stage2)
        var sampler = try ContributionSampler(layer: extractor.geometry, perImage: .count(8), seed: 0)
        try sampler.add(extractor.readout(learn))
        let bank = try ConceptLearner.learn(pfvs: try Matrix(sampler.samples.matrix), k: 8, method: .kmeans, layer: Self.stage2)
        let test = all.images.slice(batch: 50..<60)
        let logitsName = model.outputNames[0]
        let values = try model.forward(test, keep: [Self.stage2])
        let x = try #require(values[Self.stage2]), logits = try #require(values[logitsName])
        let g = extractor.geometry
        let codes = try bank.encode(activations: x, geometry: g).data
        let sub = try model.subnetwork(from: Self.stage2, to: logitsName)
        let zero = try sub.forward(Tensor(uncheckedShape: [1, g.channels, g.height, g.width],
                                          data: [Float](repeating: 0, count: g.channels * g.positions))).output.data
        let quadrature = try Quadrature(method: .gaussLegendre, steps: 32)
        var withError = [Double](), without = [Double](), modesAgree = true
        for n in 0..<5 {
            let size = g.channels * g.positions, p = g.positions, k = bank.k
            let real = Array(x.data[(n * size)..<((n + 1) * size)])
            let u = Array(codes[(n * p * k)..<((n + 1) * p * k)])
            let realLogits = Array(logits.data[(n * 10)..<((n + 1) * 10)])
            let c = realLogits.indices.max { realLogits[$0] < realLogits[$1] } ?? 0
            let target = Double(realLogits[c]) - Double(zero[c])
            for errorNode in [true, false] {
                var results = [GIGComputation.Result]()
                for mode in errorNode ? [GIGComputation.Mode.reverse, .forward] : [.reverse] {
                    let gig = try GIGComputation(subnetwork: sub, source: bank, errorNode: errorNode, target: .classes(count: 10), quadrature: quadrature, mode: mode)
                    results.append(try gig.compute(sourceCodes: u, realTarget: Tensor(uncheckedShape: [10], data: realLogits),
                                                   targetCodes: nil, sourceActivation: real))
                }
                let sums = results.map { r in (0..<r.sourceCount).reduce(0.0) { $0 + Double(r.relevance[$1 * 10 + c]) } }
                modesAgree = modesAgree && abs(sums[0] - sums[sums.count - 1]) <= 1e-3 * max(1, abs(sums[0]))
                #expect(results[0].sourceCount == k + (errorNode ? 1 : 0))
                let error = abs(sums[0] - target) / abs(target)
                if errorNode { withError.append(error) } else { without.append(error) }
            }
        }
        #expect(modesAgree)
        let median = { (v: [Double]) in v.sorted()[v.count / 2] }
        #expect(median(withError) < 0.01, "end-to-end completeness error with the error node: \(withError)")
        #expect(median(without) > 5 * median(withError), "without the error node: \(without)")
    }

    /// A 12-image demo trace (K = 4, stage 2 and 3) evaluated on 6 images: the JSON validates against
    /// schemas/evaluation.schema.json, every block has its orders and finite intervals.
    @Test func evaluationOfASmallTraceValidatesAgainstTheSchema() throws {
        let dir = try makeTemporaryFolder("evaluate")
        let trace = try Self.smallTrace(in: dir)
        var options = TraceEvaluation.Options()
        options.images = 6
        options.threads = 1
        options.quiet = true
        let report = try TraceEvaluation(trace: trace, options: options).run()
        #expect(report.images == 6)
        #expect(report.blocks.map(\.name) == ["\(Self.stage2) → classes", "\(Self.stage2) → \(Self.stage3)", "\(Self.stage3) → classes"])
        for block in report.blocks {
            #expect(block.orders.map(\.name) == TraceEvaluation.orderNames)
            #expect(block.images + block.skipped == 6)
            for o in block.orders {
                #expect(o.deletionAUC.mean.isFinite && o.deletionAUC.low <= o.deletionAUC.mean && o.deletionAUC.mean <= o.deletionAUC.high)
                #expect(o.deletionCurve.count == 5 && abs(o.deletionCurve[0] - 1) < 1e-9 && abs(o.insertionCurve[4] - 1) < 1e-9)
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = "\(dir)/evaluation.json"
        try encoder.encode(report).write(to: URL(fileURLWithPath: json))
        let schema = TestPaths.repository.appendingPathComponent("schemas/evaluation.schema.json").path
        let out = try runPython("""
            import json, sys, jsonschema
            jsonschema.validate(json.load(open(sys.argv[1])), json.load(open(sys.argv[2])))
            print("valid")
            """, arguments: [json, schema])
        #expect(out.contains("valid"))
        let plots = try EvaluationPlots.write(report, stem: "\(dir)/plot")
        #expect(plots.count == 5 && plots.allSatisfy { FileManager.default.fileExists(atPath: $0) })
        // The stored per-image rows: the error node's share and the end-to-end error are there.
        let rows = try TraceDatabase.open(trace).readImageLayers()
        #expect(rows.count == 12 * 2 && rows.allSatisfy { $0.classRelevance.count == 5 && $0.errorShare >= 0 && $0.errorShare <= 1 })
        #expect(rows.filter { $0.level == 0 }.allSatisfy { $0.nextEdges.count == 5 * 4 })
    }

    @Test func badInputsAreClearErrors() throws {
        let dir = try makeTemporaryFolder("evaluate-bad")
        let trace = try Self.smallTrace(in: dir)
        var options = TraceEvaluation.Options()
        options.images = 0
        #expect(throws: InputError.invalidParameter(.images, "images must be at least 1, got 0")) { try TraceEvaluation(trace: trace, options: options) }
        options.images = 4
        options.dataPath = "\(dir)/moved.gz"
        let moved = #expect(throws: InputError.self) { try TraceEvaluation(trace: trace, options: options) }
        #expect("\(moved.map { "\($0)" } ?? "")".contains("no longer exists"))
        options.dataPath = nil
        let reader = try TraceReader.open(trace)
        let unknown = #expect(throws: TraceError.self) { try reader.layout.classIndex("Dragon") }
        #expect("\(unknown.map { "\($0)" } ?? "")".contains("unknown class 'Dragon'"))
    }

    /// The pathway ablation of the small trace: one row per predicted class with its pathway (one
    /// concept per traced layer), finite intervals, drops paired per image, and the pooled row
    /// counting every evaluated image that was not skipped; off, the report has none.
    @Test func pathwayAblationOfASmallTrace() throws {
        let dir = try makeTemporaryFolder("evaluate-pathways")
        let trace = try Self.smallTrace(in: dir)
        var options = TraceEvaluation.Options()
        options.images = 6
        options.threads = 1
        options.layerTargets = false
        options.randomOrders = 2
        let report = try TraceEvaluation(trace: trace, options: options).run()
        let p = try #require(report.pathwayAblation)
        #expect(p.randomPathways == 20)
        #expect(p.all.images + p.skipped == 6 && p.classes.map(\.images).reduce(0, +) == p.all.images)
        for row in p.classes {
            #expect(row.pathway.count == 2 && row.pathway[0].hasPrefix(Self.stage2) && row.pathway[1].hasPrefix(Self.stage3))
            #expect(row.logitDrop.mean.isFinite && row.randomLogitDrop.mean.isFinite)
            #expect(abs(row.dropMinusRandom.mean - (row.logitDrop.mean - row.randomLogitDrop.mean)) < 1e-9)
            #expect((0...1).contains(row.predictionKept.mean) && (0...1).contains(row.randomPredictionKept.mean))
        }
        #expect(report.table().contains("pathway ablation"))
        options.pathwayAblation = false
        #expect(try TraceEvaluation(trace: trace, options: options).run().pathwayAblation == nil)
    }

    /// Bad input beyond `badInputsAreClearErrors`: a class index the trace does not have, zero random
    /// pathways, a model that moved.
    @Test func moreBadInputsAreClearErrors() throws {
        let dir = try makeTemporaryFolder("evaluate-bad2")
        let trace = try Self.smallTrace(in: dir)
        var options = TraceEvaluation.Options()
        options.classIndex = 10
        #expect(throws: TraceError.invalidSettings("class 10 is not one of the trace's 10 classes")) {
            try TraceEvaluation(trace: trace, options: options)
        }
        options.classIndex = nil
        options.randomPathways = 0
        #expect(throws: InputError.invalidParameter(.randomPathways, "random pathways must be at least 1, got 0")) {
            try TraceEvaluation(trace: trace, options: options)
        }
        options.randomPathways = 20
        options.modelPath = "\(dir)/gone.onnx"
        let moved = #expect(throws: InputError.self) { try TraceEvaluation(trace: trace, options: options) }
        #expect("\(moved.map { "\($0)" } ?? "")".contains("gone.onnx no longer exists"))
    }

    /// A schema-v1 trace (no `image_layers`, no migration record) still opens read-only with no
    /// per-layer rows and a clear refusal from `evaluate`; opened for writing it is migrated to v2.
    @Test func aVersionOneTraceOpensAndMigrates() throws {
        let dir = try makeTemporaryFolder("evaluate-v1")
        let trace = try Self.smallTrace(in: dir)
        let queue = try DatabaseQueue(path: trace)
        try queue.writeWithoutTransaction { db in
            try db.execute(sql: "DROP TABLE image_layers; DROP TABLE grdb_migrations; PRAGMA user_version = 1")
        }
        try queue.close()
        #expect(try TraceDatabase.open(trace).readImageLayers().isEmpty)
        #expect(try TraceSummary(reader: TraceReader.open(trace)).faithfulness == nil)
        var options = TraceEvaluation.Options()
        options.images = 2
        let refused = #expect(throws: TraceError.self) { try TraceEvaluation(trace: trace, options: options).run() }
        #expect("\(refused.map { "\($0)" } ?? "")".contains("schema v2"))
        let writable = try TraceDatabase.open(trace, readOnly: false)
        try writable.close()
        let version = try DatabaseQueue(path: trace).read { db in try Int.fetchOne(db, sql: "PRAGMA user_version") }
        #expect(version == TraceDatabase.schemaVersion)
        #expect(try TraceDatabase.open(trace).readImageLayers().isEmpty)
    }

    static func smallTrace(in dir: String, name: String = "t", conceptTarget: ConceptTarget = .projection,
                           coding: ConceptBank.Coding = .lasso) throws -> String {
        let spec = DatasetSpec(data: TestPaths.fashionMNISTTestImages, preprocessing: Preprocessing(mean: [0.2860], std: [0.3530]),
                               selection: DatasetSelection(limit: 12))
        var c = TraceConfiguration(modelPath: TestPaths.demoModel, dataset: spec, output: "\(dir)/\(name).sqlite")
        c.conceptTarget = conceptTarget
        c.coding = coding
        c.layers = [stage2, stage3]
        c.conceptsPerLayer = [4]
        c.steps = 8
        c.conceptImages = 12
        c.batchSize = 6
        c.threads = 1
        c.prefetchThreads = 0
        _ = try TraceRun(c).run()
        return c.output
    }
}
