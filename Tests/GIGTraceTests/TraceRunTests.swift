import Foundation
import Testing
import Core
@testable import Datasets
@testable import GIGTrace

/// The trace pipeline end to end on the demo model and a few Fashion-MNIST test images: shards
/// merge into the single-run graph, an interrupted run resumes into the uninterrupted graph, the
/// identity basis gives a channel-level graph, and bad configurations are clear errors.
@Suite(.serialized) struct TraceRunTests {
    static let model = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("models/fashion-resnet/model.onnx").path
    static let images = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"
    static let stage2 = "/stage2/relu/Relu_output_0"
    static let stage3 = "/stage3/relu/Relu_output_0"
    let dir: String

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("trace-run-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    /// 16 images in batches of 4 (so a 4-way shard is exactly one batch of the single run), K = 4, 4 steps.
    func configuration(_ name: String, images: Int = 16) -> TraceConfiguration {
        let spec = DatasetSpec(data: Self.images, preprocessing: Preprocessing(mean: [0.2860], std: [0.3530]),
                               selection: DatasetSelection(limit: images))
        var c = TraceConfiguration(modelPath: Self.model, dataset: spec, output: "\(dir)/\(name).sqlite")
        c.layers = [Self.stage2, Self.stage3]
        c.conceptsPerLayer = [4]
        c.steps = 4
        c.conceptImages = images
        c.batchSize = 4
        c.threads = 1
        c.prefetchThreads = 0
        return c
    }

    /// Every aggregate of two graphs: counts exactly, sums to float tolerance, exemplars exactly.
    func expectSameGraph(_ a: ConceptGraph, _ b: ConceptGraph, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(a.layout == b.layout, sourceLocation: sourceLocation)
        #expect(a.imageCount == b.imageCount && a.labelCounts == b.labelCounts && a.predictionCounts == b.predictionCounts,
                sourceLocation: sourceLocation)
        func close(_ x: [Double], _ y: [Double]) -> Bool {
            x.count == y.count && zip(x, y).allSatisfy { abs($0 - $1) <= 1e-9 * max(1, abs($0), abs($1)) }
        }
        for (ga, gb) in zip(a.layerEdges + a.classEdges, b.layerEdges + b.classEdges) {
            let (x, y) = (ga.blocks, gb.blocks)
            #expect(x.map(\.group) == y.map(\.group), sourceLocation: sourceLocation)
            for (p, q) in zip(x, y) {
                #expect(p.block.activeCount == q.block.activeCount, sourceLocation: sourceLocation)
                #expect(close(p.block.sum, q.block.sum) && close(p.block.sumOfSquares, q.block.sumOfSquares)
                        && close(p.block.sumOfAbs, q.block.sumOfAbs), sourceLocation: sourceLocation)
            }
        }
        for (na, nb) in zip(a.nodes.joined(), b.nodes.joined()) {
            #expect(na.imagesActive == nb.imagesActive && na.positionsActive == nb.positionsActive
                    && na.positionsSeen == nb.positionsSeen && close([na.codeSum], [nb.codeSum]), sourceLocation: sourceLocation)
        }
        #expect(a.exemplars == b.exemplars, sourceLocation: sourceLocation)
    }

    @Test func shardsMergeIntoTheSingleRunGraph() throws {
        var shards = [String]()
        for i in 0..<4 {
            var c = configuration("shard\(i)")
            (c.shardIndex, c.shardCount) = (i, 4)
            // Shard 0 learns its banks; the others reuse them from shard 0's trace database.
            if i > 0 { c.conceptBankPaths = [shards[0]] }
            let outcome = try TraceRun(c).run()
            #expect(outcome.finished && outcome.tracedImages == 4)
            shards.append(c.output)
        }
        // The single run uses the same banks too (the README's recipe). Learning them again would
        // give the same banks only if OpenBLAS's process-wide thread count stayed put, and tests
        // running in parallel in this process change it.
        var wholeConfiguration = configuration("whole")
        wholeConfiguration.conceptBankPaths = [shards[0]]
        let whole = try TraceRun(wholeConfiguration).run()
        #expect(whole.finished && whole.tracedImages == 16)
        let report = try TraceMerger.merge(output: "\(dir)/merged.sqlite", shards: shards)
        #expect(report.images == 16)
        let single = try TraceReader.open("\(dir)/whole.sqlite"), merged = try TraceReader.open("\(dir)/merged.sqlite")
        #expect(single.graph.imageCount == 16)
        expectSameGraph(single.graph, merged.graph)
        #expect(single.header.banks == merged.header.banks)
        #expect(try single.images().map(\.index) == merged.images().map(\.index))
        // Exemplars got real patch boxes inside the 28×28 input.
        let boxes = single.graph.exemplars.joined().joined().map(\.box)
        #expect(!boxes.isEmpty && boxes.allSatisfy { 0 <= $0.x0 && $0.x0 < $0.x1 && $0.x1 <= 28 && 0 <= $0.y0 && $0.y0 < $0.y1 && $0.y1 <= 28 })
        // The stored preprocessing re-opens the same dataset (the patch exporter relies on it).
        let spec = try DatasetSpec.parse(single.header.preprocessingJSON, origin: "test")
        #expect(spec.data == Self.images && spec.mean == [0.2860] && spec.limit == 16)
        #expect(single.header.model.classNames.count == 10 && single.header.model.classNames[7] == "Sneaker")
    }

    @Test func interruptedRunResumesIntoTheUninterruptedGraph() throws {
        let whole = try TraceRun(configuration("whole")).run()
        #expect(whole.finished)
        var c = configuration("resumed")
        c.conceptBankPaths = ["\(dir)/whole.sqlite"]   // same banks (see the shard test)
        c.checkpointImages = 1_000   // only the stop checkpoints
        let first = try TraceRun(c).run { $0 >= 6 }
        #expect(!first.finished && first.tracedImages == 8)
        #expect(FileManager.default.fileExists(atPath: first.path) && !FileManager.default.fileExists(atPath: c.output))
        // A rerun with other settings is refused, naming the difference; the partial file stays.
        var other = c
        other.steps = 6
        #expect { try TraceRun(other).run() } throws: { error in
            guard case InputError.invalidParameter(.force, let message) = error else { return false }
            return message.contains("steps")
        }
        let second = try TraceRun(c).run()
        #expect(second.finished && second.resumedImages == 8 && second.tracedImages == 8)
        #expect(second.completeness.count == 16)
        expectSameGraph(try TraceReader.open("\(dir)/whole.sqlite").graph, try TraceReader.open(c.output).graph)
        // A finished output is refused unless forced.
        #expect { try TraceRun(c).run() } throws: { "\($0)".contains("already exists") }
        c.force = true
        #expect(try TraceRun(c).run().tracedImages == 16)
    }

    @Test func identityGivesAChannelLevelGraph() throws {
        var c = configuration("identity", images: 4)
        c.method = .identity
        let outcome = try TraceRun(c).run()
        #expect(outcome.finished)
        let reader = try TraceReader.open(c.output)
        #expect(reader.header.banks.map(\.k) == [32, 64])
        // 32 channel sources plus the error node (on by default), into 64 channel targets.
        #expect(reader.graph.layerEdges[0].all.rows == 33 && reader.graph.layerEdges[0].all.columns == 64)
        // With V = I the codes are the activations: the reconstruction is exact, E = 0, and the
        // error node carries no relevance.
        for record in try reader.images() { #expect(record.reconstructionGap < 1e-5) }
        for row in try reader.database.readImageLayers() { #expect(row.errorShare < 1e-5 && row.logitGap < 1e-5) }
        #expect(outcome.completeness.allSatisfy { $0.error.isFinite })
    }

    @Test func badConfigurationsAreClearErrors() throws {
        func message(_ change: (inout TraceConfiguration) -> Void) -> String {
            var c = configuration("bad")
            change(&c)
            do { _ = try TraceRun(c).run() } catch { return "\(error)" }
            return ""
        }
        #expect(message { $0.layers = [Self.stage3, Self.stage2] }.contains("must run forward"))
        #expect(message { $0.layers = ["/stage9/relu"] }.contains("/stage9/relu"))
        #expect(message { $0.layers = ["logits"] }.contains("not C×H×W"))
        #expect(message { $0.conceptsPerLayer = [4, 4, 4] }.contains("3 values for 2 traced layers"))
        #expect(message { $0.conceptsPerLayer = [0] }.contains("at least 1"))
        #expect(message { ($0.shardIndex, $0.shardCount) = (4, 4) }.contains("shard must be I/N"))
        #expect(message { $0.steps = 0 }.contains("steps must be at least"))
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/bad.sqlite"))
    }
}
