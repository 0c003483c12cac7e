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
        let basis = ConceptBasis.identity(channels: 4)
        let gig = try GIGComputation(subnetwork: model.subnetwork(from: "a", to: "logits"), source: basis,
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
                let basis = try BatchTracer.basis(bank).with(errorNode: errorNode)
                var results = [GIGComputation.Result]()
                for mode in errorNode ? [GIGComputation.Mode.reverse, .forward] : [.reverse] {
                    let gig = try GIGComputation(subnetwork: sub, source: basis, target: .classes(count: 10), quadrature: quadrature, mode: mode)
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
        #expect(throws: CNNError.invalidInput("--images must be at least 1, got 0")) { try TraceEvaluation(trace: trace, options: options) }
        options.images = 4
        options.dataPath = "\(dir)/moved.gz"
        let moved = #expect(throws: CNNError.self) { try TraceEvaluation(trace: trace, options: options) }
        #expect("\(moved.map { "\($0)" } ?? "")".contains("no longer exists"))
        options.dataPath = nil
        let reader = try TraceReader.open(trace)
        let unknown = #expect(throws: CNNError.self) { try reader.layout.classIndex("Dragon") }
        #expect("\(unknown.map { "\($0)" } ?? "")".contains("unknown class 'Dragon'"))
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
        let refused = #expect(throws: CNNError.self) { try TraceEvaluation(trace: trace, options: options).run() }
        #expect("\(refused.map { "\($0)" } ?? "")".contains("schema v2"))
        let writable = try TraceDatabase.open(trace, readOnly: false)
        try writable.close()
        let version = try DatabaseQueue(path: trace).read { db in try Int.fetchOne(db, sql: "PRAGMA user_version") }
        #expect(version == TraceDatabase.schemaVersion)
        #expect(try TraceDatabase.open(trace).readImageLayers().isEmpty)
    }

    static func smallTrace(in dir: String, name: String = "t", conceptTarget: ConceptTarget = .projection) throws -> String {
        let spec = DatasetSpec(data: TestPaths.fashionMNISTTestImages, preprocessing: Preprocessing(mean: [0.2860], std: [0.3530]),
                               selection: DatasetSelection(limit: 12))
        var c = TraceConfiguration(modelPath: TestPaths.demoModel, dataset: spec, output: "\(dir)/\(name).sqlite")
        c.conceptTarget = conceptTarget
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
