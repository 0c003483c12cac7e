import Foundation
import Testing
@testable import CNN
@testable import Core
@testable import PFV

@Suite("Receptive fields (iERF and gradient ERF)")
struct ReceptiveFieldTests {
    /// Conv+ReLU only, positive weights and input: every activation is positive, nothing is
    /// dropped, and the relevance total is 1 at every layer on the way down.
    @Test func massIsConservedLayerToLayer() throws {
        var net = TinyNet(seed: 3)
        net.lo = 0.01; net.hi = 0.3
        var t = net.relu(net.conv("x", 2, 4))
        t = net.relu(net.conv(t, 4, 5, stride: 2))
        t = net.relu(net.conv(t, 5, 3, k: 1, pad: 0))
        let model = try net.model(input: [2, 10, 10], output: t)
        let tracer = try ReceptiveFieldTracer(model: model, layer: t)
        let image = randomImages(1, 2, 10, 10, seed: 4, lo: 0.1, hi: 1)
        let positions = allPositions(tracer.layer)
        let r = try tracer.srd(image: image, positions: positions)
        let layers = model.nodes.map(\.output) + ["x"]
        for name in layers {
            let m = try #require(r.mass[name], "no mass recorded at '\(name)'")
            #expect(m.allSatisfy { abs($0 - 1) < 1e-4 }, "mass at '\(name)': \(m.prefix(4))")
        }
        #expect(r.maps.data.allSatisfy { $0 >= 0 })
    }

    /// The support of a block-1 PFV of the small ResNet fixture stays inside its theoretical
    /// receptive field. (The Fashion-MNIST demo model is not on `tools` yet.) Block-1 output
    /// (h, w) on the 16×16 grid reads, through conv3×3 → conv3×3 (identity shortcut inside) →
    /// maxpool 2×2/2 → stem conv3×3, input rows 2h−5 … 2h+6 and columns 2w−5 … 2w+6.
    @Test func supportStaysInTheTheoreticalField() throws {
        let model = try Model.load(path: fixturePath("small_resnet/legacy_folded.onnx"))
        let tracer = try ReceptiveFieldTracer(model: model, layer: "/block1/relu_1/Relu_output_0")
        let image = randomImages(1, 3, 32, 32, seed: 11)
        let positions = [PFVPosition(h: 8, w: 8), PFVPosition(h: 0, w: 0), PFVPosition(h: 15, w: 4)]
        let srd = try tracer.srd(image: image, positions: positions)
        let grad = try tracer.gradient(image: image, positions: positions)
        for (i, p) in positions.enumerated() {
            let rows = max(0, 2 * p.h - 5)...min(31, 2 * p.h + 6), cols = max(0, 2 * p.w - 5)...min(31, 2 * p.w + 6)
            for map in [srd.maps, grad] {
                let m = map.data[(i * 1024)..<((i + 1) * 1024)]
                let support = m.indices.filter { m[$0] != 0 }.map { ($0 - i * 1024) }
                #expect(!support.isEmpty)
                #expect(support.allSatisfy { rows.contains($0 / 32) && cols.contains($0 % 32) }, "PFV \(p)")
            }
            // Residual adds included, the iERF still has mass 1 (nothing dropped on a random image).
            #expect(srd.droppedRelevance[i] == 0)
            #expect(abs(srd.maps.data[(i * 1024)..<((i + 1) * 1024)].reduce(0, +) - 1) < 1e-3)
        }
    }

    /// The demo model (Fashion-MNIST ResNet, models/fashion-resnet): a stage-1 PFV sits on three
    /// stride-1 3×3 convs (stem, and the block's two; the identity shortcut skips two of them), so
    /// its theoretical field is the 7×7 window rows h−3…h+3, columns w−3…w+3. Both ERFs stay
    /// inside it, and the window's border rows/columns are reached (the field is not smaller).
    @Test func demoStage1SupportIsInsideItsSevenBySevenWindow() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("models/fashion-resnet/model.onnx").path
        let model = try Model.load(path: path)
        let tracer = try ReceptiveFieldTracer(model: model, layer: "/stage1/relu/Relu_output_0")
        #expect(tracer.layer == (try LayerGeometry(model: model, layer: "/stage1/relu/Relu_output_0")))
        #expect(tracer.layer.channels == 16 && tracer.layer.height == 28)
        let image = randomImages(1, 1, 28, 28, seed: 17, lo: -0.8, hi: 2.0)
        let positions = [PFVPosition(h: 14, w: 14), PFVPosition(h: 0, w: 0), PFVPosition(h: 27, w: 12)]
        let srd = try tracer.srd(image: image, positions: positions)
        let grad = try tracer.gradient(image: image, positions: positions)
        for (i, p) in positions.enumerated() {
            let rows = max(0, p.h - 3)...min(27, p.h + 3), cols = max(0, p.w - 3)...min(27, p.w + 3)
            for (k, map) in [srd.maps, grad].enumerated() {
                let m = Array(map.data[(i * 784)..<((i + 1) * 784)])
                let support = m.indices.filter { m[$0] != 0 }
                #expect(!support.isEmpty)
                #expect(support.allSatisfy { rows.contains($0 / 28) && cols.contains($0 % 28) }, "PFV \(p)")
                // SRD passes relevance through every ReLU, so it fills the whole window; the
                // gradient may not (dead units), so only containment is required of it.
                if k == 0 {
                    #expect(Set(support.map { $0 / 28 }) == Set(rows) && Set(support.map { $0 % 28 }) == Set(cols), "PFV \(p)")
                }
            }
            #expect(abs(srd.maps.data[(i * 784)..<((i + 1) * 784)].reduce(0, +) - 1) < 1e-3)
        }
    }

    /// ∂⟨x_p, x_p⟩/∂input from the batched backward matches central finite differences.
    @Test func gradientERFMatchesFiniteDifferences() throws {
        var net = TinyNet(seed: 9)
        var t = net.relu(net.conv("x", 2, 3))
        t = net.relu(net.conv(t, 3, 2, stride: 2))
        let model = try net.model(input: [2, 6, 6], output: t)
        let tracer = try ReceptiveFieldTracer(model: model, layer: t)
        let image = randomImages(1, 2, 6, 6, seed: 10)
        let positions = [PFVPosition(h: 1, w: 1), PFVPosition(h: 2, w: 0)]
        let g = try tracer.inputGradients(image: image, positions: positions)
        let erf = try tracer.gradient(image: image, positions: positions)
        for (i, p) in positions.enumerated() {
            func f(_ x: Tensor) throws -> Double {
                let y = try #require(try model.forward(x)[t])
                let hw = 9, k = p.h * 3 + p.w
                return (0..<2).reduce(0.0) { $0 + Double(y.data[$1 * hw + k]) * Double(y.data[$1 * hw + k]) }
            }
            let eps: Float = 1e-3
            var fdMap = [Double](repeating: 0, count: 36)
            for e in 0..<72 {
                var plus = image, minus = image
                plus.data[e] += eps; minus.data[e] -= eps
                let fd = (try f(plus) - f(minus)) / Double(2 * eps)
                let an = Double(g.data[i * 72 + e])
                #expect(abs(fd - an) < 1e-3 + 1e-2 * abs(fd), "PFV \(p) element \(e): fd \(fd) vs \(an)")
                fdMap[e % 36] += abs(fd)
            }
            for k in 0..<36 { #expect(abs(Double(erf.data[i * 36 + k]) - fdMap[k]) < 5e-3 + 2e-2 * fdMap[k]) }
        }
    }

    /// One batched call gives the same maps as one call per PFV, for both methods.
    @Test func batchedEqualsOneByOne() throws {
        let model = try Model.load(path: fixturePath("small_resnet/legacy_folded.onnx"))
        let tracer = try ReceptiveFieldTracer(model: model, layer: "/block1/relu_1/Relu_output_0")
        let image = randomImages(1, 3, 32, 32, seed: 12)
        let positions = [PFVPosition(h: 3, w: 5), PFVPosition(h: 12, w: 1)]
        for method in ERFMethod.allCases {
            let all = try tracer.maps(images: image, index: 0, positions: positions, method: method)
            #expect(all.method == method)
            for (i, p) in positions.enumerated() {
                let one = try tracer.maps(images: image, index: 0, positions: [p], method: method)
                let diff = zip(all.map(i), one.map(0)).map { abs($0 - $1) }.max() ?? 1
                #expect(diff < 1e-5)
            }
        }
    }

    /// An op SRD does not cover (Mul) makes `.srd` fall back to the gradient ERF, naming the node.
    @Test func uncoveredOpFallsBackWithWarning() throws {
        var net = TinyNet(seed: 13)
        let a = net.relu(net.conv("x", 1, 2))
        let m = net.node("Mul", [a, a])
        let model = try net.model(input: [1, 5, 5], output: m)
        let tracer = try ReceptiveFieldTracer(model: model, layer: m)
        let image = randomImages(1, 1, 5, 5, seed: 14)
        let r = try tracer.maps(images: image, index: 0, positions: [PFVPosition(h: 2, w: 2)], method: .srd)
        #expect(r.method == .gradient)
        #expect(r.warnings.count == 1 && r.warnings[0].contains("Mul_"))
        let g = try tracer.gradient(image: image, positions: [PFVPosition(h: 2, w: 2)])
        #expect(r.maps == g)
        #expect(throws: PFVError.self) { try tracer.srd(image: image, positions: [PFVPosition(h: 2, w: 2)]) }
    }
}
