import Testing
@testable import CNN
@testable import Core
@testable import PFV

/// Bad input gets a clear PFVError or ModelError listing what is valid, never a crash.
@Suite("Bad input")
struct BadInputTests {
    let model: Model
    let layer = "/block1/relu_1/Relu_output_0"

    init() throws { model = try Model.load(path: fixturePath("small_resnet/legacy_folded.onnx")) }

    func message(_ body: () throws -> Void) -> String {
        do { try body(); return "" } catch { return "\(error)" }
    }

    @Test func positionOutsideTheGrid() throws {
        let tracer = try ReceptiveFieldTracer(model: model, layer: layer)
        let image = randomImages(1, 3, 32, 32, seed: 1)
        for method in ERFMethod.allCases {
            let m = message { _ = try tracer.maps(images: image, index: 0, positions: [PFVPosition(h: 16, w: 2)], method: method) }
            #expect(m.contains("0..<16") && m.contains("(16, 2)"), "\(m)")
        }
    }

    @Test func imageIndexBeyondTheBatch() throws {
        let tracer = try ReceptiveFieldTracer(model: model, layer: layer)
        let m = message { _ = try tracer.maps(images: randomImages(2, 3, 32, 32, seed: 1), index: 2, positions: [PFVPosition(h: 0, w: 0)]) }
        #expect(m.contains("image index 2") && m.contains("0..<2"), "\(m)")
        let n = message { _ = try PFVBatch(images: randomImages(2, 3, 32, 32, seed: 1), labels: [1], imageIndices: [0, 1]) }
        #expect(n.contains("1 labels"), "\(n)")
    }

    @Test func layerThatIsNotCxHxW() throws {
        for make in [{ _ = try ReceptiveFieldTracer(model: model, layer: "logits") },
                     { _ = try PFVExtractor(model: model, layer: "logits") }] {
            let m = message(make)
            #expect(m.contains("not C×H×W") && m.contains(layer), "\(m)")
        }
        let unknown = message { _ = try ReceptiveFieldTracer(model: model, layer: "nope") }
        #expect(unknown.contains("no tensor named 'nope'") && unknown.contains(layer))
    }

    /// Contributions need a cut of the graph: a tensor inside a residual block is refused, naming it.
    @Test func layerInsideAResidualBlock() throws {
        let m = message { _ = try PFVExtractor(model: model, layer: "/block1/relu/Relu_output_0") }
        #expect(m.contains("passes through") && m.contains("/block1/relu/Relu_output_0"), "\(m)")
    }

    @Test func labelOutsideTheClasses() throws {
        let extractor = try PFVExtractor(model: model, layer: layer, classSource: .label)
        let batch = try PFVBatch(images: randomImages(1, 3, 32, 32, seed: 2), labels: [10], imageIndices: [7])
        let m = message { _ = try extractor.readout(batch) }
        #expect(m.contains("label 10") && m.contains("image 7"), "\(m)")
    }
}
