import Testing
@testable import CNN
@testable import PFV

/// SRD sharing ratios into every output PFV sum to 1 (METHOD §2), for each layer type: with all
/// output positions as a batch of one-hot PFVs, each PFV's relevance at the input must total 1.
@Suite("SRD sharing ratios")
struct SharingRatioTests {
    /// Builds the net, traces every position of `layer` and checks each map sums to 1.
    func checkSumsToOne(_ build: (inout TinyNet) -> String, input: [Int] = [3, 9, 9], foldBatchNorm: Bool = true,
                        seed: UInt64 = 7) throws {
        var net = TinyNet(seed: seed)
        let layer = build(&net)
        let model = try net.model(input: input, output: layer, foldBatchNorm: foldBatchNorm)
        let tracer = try ReceptiveFieldTracer(model: model, layer: layer)
        #expect(tracer.srdUnsupportedNodes.isEmpty)
        let image = randomImages(1, input[0], input[1], input[2], seed: seed + 1)
        let positions = allPositions(tracer.layer)
        let r = try tracer.srd(image: image, positions: positions)
        let n = input[1] * input[2]
        for i in 0..<positions.count {
            let total = r.maps.data[(i * n)..<((i + 1) * n)].reduce(0, +)
            #expect(abs(total - 1) < 1e-4, "PFV \(positions[i]) of '\(layer)': input relevance \(total)")
            #expect(r.droppedRelevance[i] == 0)
        }
    }

    @Test func convWithBiasStrideAndPadding() throws {
        try checkSumsToOne { n in n.conv("x", 3, 5, k: 3, stride: 2, pad: 1) }
    }

    @Test func groupedConvAndReLU() throws {
        try checkSumsToOne { n in n.relu(n.conv(n.relu(n.conv("x", 3, 6)), 6, 4, groups: 2)) }
        // Few inputs per group (1 of 2 → 4 outputs each): the Gram-matrix path.
        try checkSumsToOne { n in n.relu(n.conv(n.relu(n.conv("x", 3, 2, k: 1, pad: 0)), 2, 8, groups: 2)) }
    }

    @Test func convWithUnfoldedBatchNorm() throws {
        try checkSumsToOne({ n in n.relu(n.batchNorm(n.conv("x", 3, 4, bias: false), 4)) }, foldBatchNorm: false)
    }

    @Test func standaloneBatchNorm() throws {
        try checkSumsToOne({ n in n.conv(n.batchNorm(n.relu(n.conv("x", 3, 4)), 4), 4, 2) }, foldBatchNorm: false)
    }

    @Test func residualAddWithIdentityShortcut() throws {
        try checkSumsToOne { n in
            let a = n.relu(n.conv("x", 3, 4))
            return n.relu(n.add(n.conv(n.relu(n.conv(a, 4, 4)), 4, 4), a))
        }
    }

    @Test func residualAddWithUnfoldedBatchNormAndProjectionShortcut() throws {
        try checkSumsToOne({ n in
            let a = n.relu(n.conv("x", 3, 4))
            let main = n.batchNorm(n.conv(n.relu(n.conv(a, 4, 6, stride: 2)), 6, 6, bias: false), 6)
            let short = n.batchNorm(n.conv(a, 4, 6, k: 1, stride: 2, pad: 0, bias: false), 6)
            return n.relu(n.add(main, short))
        }, foldBatchNorm: false)
    }

    @Test func maxPool() throws {
        try checkSumsToOne { n in n.pool("MaxPool", n.relu(n.conv("x", 3, 4)), k: 3, stride: 2, pad: 1) }
    }

    @Test func averagePoolBothPadConventions() throws {
        try checkSumsToOne { n in n.pool("AveragePool", n.conv("x", 3, 4), k: 3, stride: 2, pad: 1, includePad: false) }
        try checkSumsToOne { n in n.pool("AveragePool", n.conv("x", 3, 4), k: 3, stride: 2, pad: 1, includePad: true) }
    }

    @Test func globalAveragePool() throws {
        try checkSumsToOne { n in n.globalAveragePool(n.relu(n.conv("x", 3, 4))) }
    }

    @Test func channelConcat() throws {
        try checkSumsToOne { n in n.relu(n.concat(n.conv("x", 3, 2), n.conv("x", 3, 3, k: 1, pad: 0))) }
    }

    /// The ratios themselves against the formula written out by hand for one 3×3 conv with bias:
    /// μ_{k→j} = (⟨c_k, z_j⟩ + ‖c_k‖/Σ‖c‖·⟨b, z_j⟩)/‖z_j‖², c_k = W[:, :, tap]·x_k. Both ways the
    /// code computes the products for a stride-1 conv are covered: few input channels (stem-like
    /// 1→6, by Gram matrices) and as many inputs as outputs (2→3, from the per-tap products the
    /// SRD forward keeps; ConvTapProductsTests checks them against the explicit per-tap GEMMs).
    @Test(arguments: [(2, 3), (1, 6)])
    func convRatiosMatchTheFormula(cin: Int, cout: Int) throws {
        var net = TinyNet(seed: 21)
        let y = net.conv("x", cin, cout, k: 3, stride: 1, pad: 1)
        let model = try net.model(input: [cin, 5, 5], output: y)
        guard case .conv(let conv) = model.nodes[0].op, let bias = conv.bias else {
            Issue.record("expected a Conv with bias"); return
        }
        let image = randomImages(1, cin, 5, 5, seed: 22)
        let x = image.data, wt = conv.weight.data
        for (oh, ow) in [(0, 2), (2, 2), (4, 4)] {   // top edge, inside, corner
            var c = [[Double]](), taps = [(Int, Int)]()
            for ki in 0..<3 {
                for kj in 0..<3 {
                    let ih = oh - 1 + ki, iw = ow - 1 + kj
                    guard ih >= 0 && ih < 5 && iw >= 0 && iw < 5 else { continue }
                    taps.append((ih, iw))
                    var cm = [Double](repeating: 0, count: cout)
                    for m in 0..<cout {
                        for ch in 0..<cin {
                            let wv = Double(wt[((m * cin + ch) * 3 + ki) * 3 + kj])
                            cm[m] += wv * Double(x[(ch * 5 + ih) * 5 + iw])
                        }
                    }
                    c.append(cm)
                }
            }
            let z = (0..<cout).map { m in c.reduce(Double(bias[m])) { $0 + $1[m] } }
            let zz = z.reduce(0) { $0 + $1 * $1 }
            let bz = (0..<cout).reduce(0.0) { $0 + Double(bias[$1]) * z[$1] }
            let norms = c.map { v in v.reduce(0) { $0 + $1 * $1 }.squareRoot() }
            let total = norms.reduce(0, +)
            let r = try ReceptiveFieldTracer(model: model, layer: y).srd(image: image, positions: [PFVPosition(h: oh, w: ow)])
            for (i, (ih, iw)) in taps.enumerated() {
                let mu = ((0..<cout).reduce(0.0) { $0 + c[i][$1] * z[$1] } + norms[i] / total * bz) / zz
                #expect(abs(Double(r.maps.data[ih * 5 + iw]) - mu) < 1e-4, "PFV (\(oh), \(ow)), tap at (\(ih), \(iw))")
            }
            let outside = (0..<25).filter { k in !taps.contains { $0.0 * 5 + $0.1 == k } }
            #expect(outside.allSatisfy { r.maps.data[$0] == 0 })
        }
    }

    /// BN folded at load time and BN kept in the graph (fused by the SRD plan) give the same iERF:
    /// the two exports of the small ResNet fixture.
    @Test func foldedAndUnfoldedBatchNormAgree() throws {
        let folded = try Model.load(path: fixturePath("small_resnet/legacy_folded.onnx"))
        let kept = try Model.load(path: fixturePath("small_resnet/legacy_bn.onnx"), foldBatchNorm: false)
        #expect(kept.opCounts["BatchNormalization", default: 0] > 0)
        let layer = "/block1/relu_1/Relu_output_0"
        let image = randomImages(1, 3, 32, 32, seed: 5)
        let pos = [PFVPosition(h: 7, w: 9), PFVPosition(h: 0, w: 15)]
        let a = try ReceptiveFieldTracer(model: folded, layer: layer).srd(image: image, positions: pos)
        let b = try ReceptiveFieldTracer(model: kept, layer: layer).srd(image: image, positions: pos)
        let diff = zip(a.maps.data, b.maps.data).map { abs($0 - $1) }.max() ?? 1
        #expect(diff < 1e-4)
    }
}
