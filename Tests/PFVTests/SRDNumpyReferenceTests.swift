import Foundation
import Testing
@testable import CNN
@testable import Core
@testable import PFV
import TestSupport

/// SRD iERFs of the demo model equal an independent NumPy implementation of the sharing-ratio rule
/// (tools/srd_numpy.py, written from docs/METHOD.md §2: conv taps with the bias split by norm, the
/// residual Add's shortcut as one more contributor, ReLU in place): 10 PFVs per traced layer
/// (stage 1, 2, 3) of a Fashion-MNIST test image, through ReLU and both kinds of residual Add
/// (identity and 1×1-conv shortcut), to 1e-4 of the map's largest value. (The demo model has no
/// max-pool; its routing is tested in SharingRatioTests.)
@Suite struct SRDNumpyReferenceTests {
    static let layers = ["/stage1/relu/Relu_output_0", "/stage2/relu/Relu_output_0", "/stage3/relu/Relu_output_0"]

    @Test(arguments: layers)
    func demoIERFsEqualTheNumpySharingRatioRule(layer: String) throws {
        let model = try Model.load(path: TestPaths.demoModel)
        let tracer = try ReceptiveFieldTracer(model: model, layer: layer)
        #expect(tracer.srdUnsupportedNodes.isEmpty)
        let dir = try makeTemporaryFolder("srd-numpy")
        // Test image 0 of Fashion-MNIST, normalised as the demo model expects.
        _ = try runPython("""
            import gzip, sys
            import numpy as np
            raw = gzip.open(sys.argv[1]).read()[16:16 + 784]
            x = (np.frombuffer(raw, np.uint8).astype(np.float32) / 255 - np.float32(0.2860)) / np.float32(0.3530)
            np.save(sys.argv[2], x.reshape(1, 1, 28, 28).astype(np.float32))
            """, arguments: [TestPaths.fashionMNISTTestImages, "\(dir)/image.npy"])
        let image = try Npy.read(path: "\(dir)/image.npy").floatTensor(path: "image.npy")
        var rng = SamplingRNG(seed: 5)
        let g = tracer.layer
        let positions = (0..<10).map { _ in PFVPosition(h: Int(rng.unit() * Double(g.height)), w: Int(rng.unit() * Double(g.width))) }
        let request = ["layer": layer, "positions": positions.map { [$0.h, $0.w] }] as [String: Any]
        try JSONSerialization.data(withJSONObject: request).write(to: URL(fileURLWithPath: "\(dir)/positions.json"))
        let script = TestPaths.repository.appendingPathComponent("tools/srd_numpy.py").path
        _ = try runPython("import runpy, sys; sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')",
                          arguments: [script, "\(dir)/image.npy", "\(dir)/positions.json", "\(dir)/maps.npy"])
        let reference = try Npy.read(path: "\(dir)/maps.npy")
        guard case .float64(let expected) = reference.values else { Issue.record("maps.npy is not float64"); return }
        let ours = try tracer.srd(image: image, positions: positions).maps
        #expect(ours.shape == [10, 28, 28] && reference.shape == [10, 28, 28])
        for i in 0..<10 {
            let n = 28 * 28
            let mine = ours.data[(i * n)..<((i + 1) * n)], theirs = expected[(i * n)..<((i + 1) * n)]
            let scale = theirs.map(abs).max() ?? 0
            let worst = zip(mine, theirs).map { abs(Double($0) - $1) }.max() ?? .infinity
            #expect(scale > 0 && worst <= 1e-4 * scale, "PFV \(positions[i]) of \(layer): worst \(worst), scale \(scale)")
        }
    }
}
