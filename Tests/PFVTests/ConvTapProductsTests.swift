import Testing
@testable import PFV

/// The per-tap products the SRD forward keeps for stride-1 convs, against the two independent
/// routes they replace: the engine's convolution (im2col GEMM) for the output, and the explicit
/// per-tap GEMMs of `SRDConvShares` for the sharing numerators.
@Suite struct ConvTapProductsTests {
    /// 3×3 pad 1, 3×3 without padding and 1×1, 4 → 5 channels on a 6×7 input.
    @Test(arguments: [(3, 1), (3, 0), (1, 0)])
    func matchEngineAndExplicitShares(kernel: Int, pad: Int) throws {
        var net = TinyNet(seed: 41)
        let y = net.conv("x", 4, 5, k: kernel, stride: 1, pad: pad)
        let model = try net.model(input: [4, 6, 7], output: y)
        guard case .conv(let conv) = model.nodes[0].op else { Issue.record("expected a Conv"); return }
        #expect(ConvTapProducts.applies(to: conv))
        let x = randomImages(1, 4, 6, 7, seed: 42)
        let products = try ConvTapProducts(conv: conv, stacked: ConvTapProducts.stackedWeights(conv), x: x)
        let engine = try #require(try model.forward(x)[y])
        let fused = products.output()
        #expect(fused.shape == engine.shape)
        #expect(zip(fused.data, engine.data).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) })

        let (h, w) = (engine.shape[2], engine.shape[3])
        // Some positions and all of them.
        for active in [[0, 3, h * w / 2, h * w - 1], Array(0..<(h * w))] {
            let viaGEMM = try SRDConvShares.compute(conv: conv, x: x.data, channels: 4, height: 6, width: 7, z: engine.data,
                                                    zChannels: 5, outH: h, outW: w, active: active)
            let viaProducts = try SRDConvShares.compute(conv: conv, x: x.data, channels: 4, height: 6, width: 7, z: engine.data,
                                                        zChannels: 5, outH: h, outW: w, active: active,
                                                        numerators: try products.numerators(z: engine))
            #expect(viaGEMM.cols == viaProducts.cols)
            #expect(zip(viaGEMM.shares, viaProducts.shares).allSatisfy { abs($0 - $1) <= 1e-4 * max(1, abs($0)) })
            #expect(viaGEMM.shares.contains { $0 != 0 })
        }
    }
}
