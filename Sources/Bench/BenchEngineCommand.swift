import ArgumentParser
import CommandLineSupport
import CNN
import COpenBLAS
import Core
import Foundation

/// `gigtrace bench-engine`: images/s of forward and forward + input gradient on random images.
struct BenchEngineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "engine",
        abstract: "Measure engine throughput (images/s): forward, and forward + gradient of one logit w.r.t. the input.")

    @Option(help: "The ONNX model file.")
    var model: String

    @Option(help: "Images per batch.")
    var batchSize: Int = 16

    @Option(help: "Total CPU threads (BLAS threads × engine threads).")
    var threads: Int = 2

    @Option(help: "Also time one forward tape plus a backward of this many cotangents per image (the GIG pattern); 0 to skip.")
    var targets: Int = 8

    @Option(help: "Timed repetitions (after one warm-up).")
    var iterations: Int = 3

    func run() throws {
        try reportingErrors {
            guard batchSize > 0, threads > 0, iterations > 0 else { throw InputError.invalidInput("options must be positive") }
            var m = try Model.load(path: model)
            m.threads = threads
            let shape = [batchSize] + m.inputShape
            let x = Tensor(uncheckedShape: shape, data: (0..<Tensor.elementCount(shape)).map { Float(($0 * 7919) % 2001) / 1000 - 1 })
            func rate(_ body: () throws -> Void) throws -> Double {
                try body()
                let t0 = Date()
                for _ in 0..<iterations { try body() }
                return Double(batchSize * iterations) / Date().timeIntervalSince(t0)
            }
            let f = try rate { _ = try m.forward(x) }
            let classes = (0..<batchSize).map { $0 % 10 }
            let g = try rate { _ = try m.gradient(x, classes: classes) }
            print(String(format: "forward %.2f img/s, forward+input-gradient %.2f img/s (batch %d, %d threads)", f, g, batchSize, threads))
            if targets > 0 {
                let sub = try m.subnetwork(from: m.inputName, to: m.outputNames.first ?? "")
                let outShape = try sub.forward(x.slice(batch: 0..<1)).output.shape
                var cot = Tensor(shape: [batchSize * targets] + Array(outShape.dropFirst()))
                let classes = cot.count / (batchSize * targets)
                for row in 0..<(batchSize * targets) { cot.data[row * classes + row % classes] = 1 }
                let r = try rate { _ = try sub.backward(try sub.forward(x), cotangent: cot) }
                print(String(format: "forward tape + backward of %d targets/image: %.2f img/s = %.2f target-gradients/s", targets, r, r * Double(targets)))
            }
            // Conv FLOPs per image (2·M·K·P per conv) against a large square sgemm.
            var convFlops = 0.0
            for node in m.nodes {
                guard case .conv(let c) = node.op, let outShape = m.tensorShapes[node.output] else { continue }
                let k = c.inChannelsPerGroup * c.window.kernelH * c.window.kernelW
                convFlops += 2 * Double(c.outChannels * k * outShape[1] * outShape[2])
            }
            let n = 2048
            let a = [Float](repeating: 0.5, count: n * n)
            var cm = [Float](repeating: 0, count: n * n)
            BLASThreads.use(threads)
            let t0 = Date()
            for _ in 0..<3 {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(n), Int32(n), 1, a, Int32(n), a, Int32(n), 0, &cm, Int32(n))
            }
            let peak = 3 * 2 * pow(Double(n), 3) / Date().timeIntervalSince(t0) / 1e9
            print(String(format: "conv GFLOP/image %.2f; forward conv GFLOP/s %.1f (upper bound, whole forward time); sgemm %dx%d: %.1f GFLOP/s",
                         convFlops / 1e9, convFlops * f / 1e9, n, n, peak))
        }
    }
}
