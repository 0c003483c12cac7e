import CWinograd
import TestSupport
import Testing
@testable import CNN
@testable import Core

/// Winograd F(2×2, 3×3) against the im2col + GEMM path on the same random convs.
///
/// Both are Float32 sums of C·9 products of inputs and weights in [−1, 1], so their outputs are
/// O(√(9C)) and each carries a rounding error of a few ulp times √(9C) of that scale; Winograd's
/// transforms add sums of 4–9 terms with coefficients ±1 and ±½ on each side. Measured, the
/// largest difference is 2e-7 – 7e-7 of the largest output (growing with C); the tolerance 1e-5
/// leaves > 10× margin and is still ~1e4 below any indexing or transform error (which is O(1)).
@Suite struct WinogradTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var n: Int, c: Int, m: Int, h: Int, w: Int
        /// (top, left, bottom, right)
        var pads = (1, 1, 1, 1)
        var autoPad = AutoPad.notSet
        var bias = true, relu = false, threads = 1
        /// Small blocks (with `minTiles` 1) put block boundaries inside images.
        var blockBytes = Winograd.blockBytes
        var minTiles = Winograd.minTilesPerBlock
        var testDescription: String {
            "n\(n) c\(c) m\(m) \(h)×\(w) pads \(pads) \(autoPad.rawValue) bias \(bias) relu \(relu) threads \(threads) block \(blockBytes) min tiles \(minTiles)"
        }
    }

    static let cases: [Case] = [
        Case(n: 1, c: 16, m: 16, h: 7, w: 7),
        Case(n: 3, c: 16, m: 24, h: 14, w: 14, relu: true, threads: 2),
        Case(n: 2, c: 32, m: 16, h: 1, w: 1, bias: false),
        Case(n: 2, c: 16, m: 16, h: 9, w: 12, pads: (0, 0, 0, 0)),
        Case(n: 5, c: 20, m: 17, h: 13, w: 6, relu: true, threads: 2, blockBytes: 16 * 37 * 4 * 10, minTiles: 1),
        Case(n: 2, c: 16, m: 18, h: 8, w: 10, autoPad: .sameUpper, bias: false, relu: true),
        Case(n: 3, c: 17, m: 16, h: 11, w: 9, pads: (1, 0, 0, 1), threads: 2),
        Case(n: 2, c: 16, m: 16, h: 28, w: 28, pads: (0, 1, 1, 0), relu: true, blockBytes: 16 * 32 * 4 * 30, minTiles: 1),
        Case(n: 4, c: 64, m: 64, h: 56, w: 56, relu: true, threads: 2),
    ]

    static func conv(_ k: Case, _ rng: inout SeededRandom) -> Conv2D {
        let window = Window2D(kernelH: 3, kernelW: 3, strideH: 1, strideW: 1, dilationH: 1, dilationW: 1,
                              padTop: k.pads.0, padLeft: k.pads.1, padBottom: k.pads.2, padRight: k.pads.3,
                              autoPad: k.autoPad, ceilMode: false)
        return Conv2D(weight: rng.tensor([k.m, k.c, 3, 3]),
                      bias: k.bias ? (0..<k.m).map { _ in rng.uniform(-1, 1) } : nil, window: window, groups: 1)
    }

    /// Largest |a − b| over the largest |b|.
    static func relativeError(_ a: Tensor, _ b: Tensor) -> Float {
        let diff = zip(a.data, b.data).map { abs($0 - $1) }.max() ?? 0
        return diff / max(b.data.map(abs).max() ?? 0, 1e-30)
    }

    @Test(arguments: cases)
    func matchesIm2col(_ k: Case) throws {
        var rng = SeededRandom(UInt64(k.n * 1000 + k.c * 10 + k.h))
        let conv = Self.conv(k, &rng)
        let x = rng.tensor([k.n, k.c, k.h, k.w])
        let g = try Convolution.geometry(conv, inputShape: x.shape)
        #expect(Winograd.accepts(g))
        let u = try #require(conv.winogradFilter)
        let wino = Winograd.forward(filter: u, bias: conv.bias, x, g, threads: k.threads, fuseRelu: k.relu, blockBytes: k.blockBytes,
                                    minTiles: k.minTiles)
        let ref = Convolution.im2colForward(conv, bias: conv.bias, x, g, threads: 1, fuseRelu: k.relu)
        #expect(wino.shape == ref.shape)
        #expect(Self.relativeError(wino, ref) < 1e-5)
        if k.relu { #expect(wino.data.allSatisfy { $0 >= 0 }) }
    }

    /// `Convolution.forward` takes the Winograd path exactly for 3×3 stride-1 ungrouped convs
    /// with enough channels and pads ≤ 1, and the others still run (and agree) through im2col.
    @Test func dispatch() throws {
        var rng = SeededRandom(7)
        var k = Case(n: 2, c: 16, m: 16, h: 10, w: 10)
        #expect(Self.conv(k, &rng).winogradFilter != nil)
        k.c = 8
        #expect(Self.conv(k, &rng).winogradFilter == nil)
        k.c = 16
        k.pads = (2, 2, 2, 2)
        let padded = Self.conv(k, &rng)
        let x = rng.tensor([2, 16, 10, 10])
        let g = try Convolution.geometry(padded, inputShape: x.shape)
        #expect(padded.winogradFilter != nil && !Winograd.accepts(g))
        let y = try Convolution.forward(padded, x, threads: 1)
        #expect(y.shape == [2, 16, 12, 12])
        #expect(Self.relativeError(y, Convolution.im2colForward(padded, bias: padded.bias, x, g, threads: 1, fuseRelu: false)) == 0)
        var strided = Window2D(kernelH: 3, kernelW: 3, strideH: 2, strideW: 2, dilationH: 1, dilationW: 1,
                               padTop: 1, padLeft: 1, padBottom: 1, padRight: 1, autoPad: .notSet, ceilMode: false)
        #expect(Conv2D(weight: rng.tensor([16, 16, 3, 3]), bias: nil, window: strided, groups: 1).winogradFilter == nil)
        strided.strideH = 1; strided.strideW = 1
        #expect(Conv2D(weight: rng.tensor([16, 8, 3, 3]), bias: nil, window: strided, groups: 2).winogradFilter == nil)
    }

    /// A folded BatchNorm is in the filter transform (built from the folded weights), and the
    /// input-VJP convolution of a qualifying conv (channels swapped, pads 2 − p) has its own.
    @Test func foldedAndInputVJPConvsUseWinograd() throws {
        var rng = SeededRandom(11)
        let conv = Self.conv(Case(n: 2, c: 16, m: 24, h: 6, w: 6), &rng)
        let bn = ChannelAffine(scale: (0..<24).map { _ in rng.uniform(0.5, 2) }, shift: (0..<24).map { _ in rng.uniform(-1, 1) })
        let folded = conv.folded(bn)
        let x = rng.tensor([2, 16, 6, 6])
        let g = try Convolution.geometry(folded, inputShape: x.shape)
        #expect(folded.winogradFilter != nil && Winograd.accepts(g))
        let y = try Convolution.forward(folded, x, threads: 1)
        let ref = Convolution.im2colForward(folded, bias: folded.bias, x, g, threads: 1, fuseRelu: false)
        #expect(Self.relativeError(y, ref) < 1e-5)
        let vjp = try #require(folded.inputVJP?.conv)
        #expect(vjp.winogradFilter != nil)
        let dy = rng.tensor([3, 24, 6, 6])
        #expect(Winograd.accepts(try Convolution.geometry(vjp, inputShape: dy.shape)))
    }

    /// The C tile transforms of every vector width this CPU runs (baseline SSE2, AVX2, AVX-512)
    /// against the textbook matrices of F(2×2, 3×3), V = Bᵀ d B and Y = Aᵀ m A (+ bias, ReLU),
    /// on 13 tiles (one group of 8 and a ragged one) and an output row whose last tile is cut.
    @Test func tileTransformsOfEveryVectorWidthMatchTheMatrices() {
        let bt: [[Float]] = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]
        let at: [[Float]] = [[1, 1, 1, 0], [0, 1, -1, -1]]
        var rng = SeededRandom(11)
        let tw = 13, width = 2 * tw + 18 + 8, cs = 24
        let lines = (0..<4).map { _ in (0..<width).map { _ in rng.uniform(-1, 1) } }
        let levels = 0...Int(gig_winograd_vector_level())
        for level in levels {
            var v = [Float](repeating: 0, count: 16 * cs)
            gig_winograd_input_channel_at(Int32(level), lines[0], lines[1], lines[2], lines[3], &v, tw, cs)
            var inputError: Float = 0
            for tx in 0..<tw {
                for i in 0..<4 {
                    for j in 0..<4 {
                        var expected: Float = 0
                        for a in 0..<4 { for b in 0..<4 { expected += bt[i][a] * lines[a][2 * tx + b] * bt[j][b] } }
                        inputError = max(inputError, Self.gap(v[(4 * i + j) * cs + tx], expected))
                    }
                }
            }
            #expect(inputError <= 1e-6, "input transform, level \(level)")
            // Output: 3 channels, rows y0 and y0 + 1 of 5, 25 columns (tile 12's second column is cut).
            let channels = 3, ld = 24, ms = channels * ld, oh = 5, ow = 25, sentinel: Float = 12345
            let prod = (0..<(16 * ms)).map { _ in rng.uniform(-1, 1) }
            let bias: [Float] = [0.25, -0.5, 0]
            for relu in [false, true] {
                for y0 in [2, 4] {   // y0 = 4: no second row inside the plane
                    var out = [Float](repeating: sentinel, count: channels * oh * ow), outputError: Float = 0
                    gig_winograd_output_row_at(Int32(level), prod, ld, ms, channels, tw, bias, relu ? 1 : 0, &out, oh, ow, y0)
                    for m in 0..<channels {
                        for y in 0..<oh {
                            for x in 0..<ow {
                                var expected = sentinel
                                if y == y0 || (y == y0 + 1 && y0 + 1 < oh) {
                                    let (tx, r, c) = (x / 2, y - y0, x % 2)
                                    var sum: Float = 0
                                    for i in 0..<4 {
                                        for j in 0..<4 { sum += at[r][i] * prod[(4 * i + j) * ms + m * ld + tx] * at[c][j] }
                                    }
                                    expected = relu ? max(sum + bias[m], 0) : sum + bias[m]
                                }
                                outputError = max(outputError, Self.gap(out[(m * oh + y) * ow + x], expected))
                            }
                        }
                    }
                    #expect(outputError <= 1e-6, "output transform, level \(level), relu \(relu), y0 \(y0)")
                }
            }
        }
        #expect(levels.count >= 1)
    }

    /// |a − b|, infinite when either is NaN (so a NaN cannot hide in a running maximum).
    static func gap(_ a: Float, _ b: Float) -> Float { let d = abs(a - b); return d.isNaN ? .infinity : d }
}
