import Core
import Foundation
import TestSupport
import Testing
@testable import CNN

/// Depthwise convolutions (groups = C = M) through `Convolution.forward` / `backward`, which
/// dispatch them to `Depthwise`, against NumPy: the output by summing shifted, strided slices of
/// the zero-padded input, and the input-VJP by adding `w · cotangent` back into those slices.
///
/// Both sides sum kH·kW products of values in [−1, 1] in Float32 (NumPy in float64), so they
/// differ by a few ulp of the output scale: the tolerance 1e-6 (relative L2) is far below any
/// indexing, padding or stride error, which is O(1).
@Suite struct DepthwiseTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var n: Int, c: Int, h: Int, w: Int, k: Int, stride: Int
        /// (top, left, bottom, right)
        var pads: (Int, Int, Int, Int)
        var dilation = 1, bias = true, relu = false, threads = 1
        var testDescription: String {
            "n\(n) c\(c) \(h)×\(w) k\(k) s\(stride) pads \(pads) d\(dilation) bias \(bias) relu \(relu) threads \(threads)"
        }
    }

    static let cases: [Case] = [
        Case(n: 2, c: 8, h: 9, w: 9, k: 3, stride: 1, pads: (1, 1, 1, 1), relu: true, threads: 2),   // MobileNetV2 stride 1
        Case(n: 3, c: 5, h: 10, w: 7, k: 3, stride: 2, pads: (1, 1, 1, 1)),                           // MobileNetV2 stride 2
        Case(n: 2, c: 4, h: 8, w: 8, k: 5, stride: 2, pads: (2, 2, 2, 2), bias: false, threads: 2),   // EfficientNet 5×5
        Case(n: 1, c: 6, h: 7, w: 9, k: 3, stride: 1, pads: (0, 1, 1, 0), dilation: 2),
        Case(n: 2, c: 4, h: 17, w: 17, k: 3, stride: 2, pads: (0, 0, 1, 1), relu: true),              // TF-style "same" pads
        Case(n: 1, c: 3, h: 11, w: 11, k: 3, stride: 3, pads: (0, 0, 0, 0)),
        Case(n: 4, c: 32, h: 28, w: 28, k: 3, stride: 1, pads: (1, 1, 1, 1), threads: 2),
    ]

    @Test(arguments: cases)
    func matchesNumPy(_ k: Case) throws {
        var rng = SeededRandom(UInt64(k.n * 100 + k.c * 10 + k.k + k.stride))
        let window = Window2D(kernelH: k.k, kernelW: k.k, strideH: k.stride, strideW: k.stride,
                              dilationH: k.dilation, dilationW: k.dilation,
                              padTop: k.pads.0, padLeft: k.pads.1, padBottom: k.pads.2, padRight: k.pads.3,
                              autoPad: .notSet, ceilMode: false)
        let weight = rng.tensor([k.c, 1, k.k, k.k])
        let bias: [Float]? = k.bias ? (0..<k.c).map { _ in rng.uniform(-1, 1) } : nil
        let conv = Conv2D(weight: weight, bias: bias, window: window, groups: k.c)
        let x = rng.tensor([k.n, k.c, k.h, k.w])
        let g = try Convolution.geometry(conv, inputShape: x.shape)
        #expect(Depthwise.accepts(g))
        let y = try Convolution.forward(conv, x, threads: k.threads, fuseRelu: k.relu)
        #expect(y.shape == [k.n, k.c, g.oh, g.ow])
        let dy = rng.tensor(y.shape)
        let dx = try Convolution.backward(conv, inputShape: x.shape, grad: dy, threads: k.threads)
        #expect(dx.shape == x.shape)

        let dir = try makeTemporaryFolder("depthwise")
        try Npy.write(x, to: "\(dir)/x.npy")
        try Npy.write(weight, to: "\(dir)/w.npy")
        try Npy.write(Tensor(uncheckedShape: [k.c], data: bias ?? [Float](repeating: 0, count: k.c)), to: "\(dir)/b.npy")
        try Npy.write(dy, to: "\(dir)/dy.npy")
        _ = try runPython("""
            import sys, numpy as np
            d, (k, s, dil, t, l, b, r), relu = sys.argv[1], map(int, sys.argv[2:9]), sys.argv[9] == "1"
            x, w = np.load(d + "/x.npy").astype(np.float64), np.load(d + "/w.npy").astype(np.float64)
            bias, dy = np.load(d + "/b.npy").astype(np.float64), np.load(d + "/dy.npy").astype(np.float64)
            n, c, h, wd = x.shape
            xp = np.pad(x, ((0, 0), (0, 0), (t, b), (l, r)))
            oh, ow = (h + t + b - dil * (k - 1) - 1) // s + 1, (wd + l + r - dil * (k - 1) - 1) // s + 1
            y = np.zeros((n, c, oh, ow)) + bias[None, :, None, None]
            dxp = np.zeros_like(xp)
            for i in range(k):
                for j in range(k):
                    rows = slice(i * dil, i * dil + (oh - 1) * s + 1, s)
                    cols = slice(j * dil, j * dil + (ow - 1) * s + 1, s)
                    y += w[None, :, 0, i, j, None, None] * xp[:, :, rows, cols]
                    dxp[:, :, rows, cols] += w[None, :, 0, i, j, None, None] * dy
            if relu:
                y = np.maximum(y, 0)
            np.save(d + "/y_ref.npy", y.astype(np.float32))
            np.save(d + "/dx_ref.npy", dxp[:, :, t:t + h, l:l + wd].astype(np.float32))
            """, arguments: [dir, "\(k.k)", "\(k.stride)", "\(k.dilation)", "\(k.pads.0)", "\(k.pads.1)", "\(k.pads.2)",
                             "\(k.pads.3)", k.relu ? "1" : "0"])
        let yRef = try Npy.read(path: "\(dir)/y_ref.npy"), dxRef = try Npy.read(path: "\(dir)/dx_ref.npy")
        guard case .float32(let yr) = yRef.values, case .float32(let dxr) = dxRef.values else {
            Issue.record("NumPy wrote non-float32 references")
            return
        }
        #expect(yRef.shape == y.shape && dxRef.shape == dx.shape)
        #expect(relativeError(y.data, yr) < 1e-6, "forward")
        #expect(relativeError(dx.data, dxr) < 1e-6, "input VJP")
    }
}
