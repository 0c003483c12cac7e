import ArgumentParser
import Foundation
import GIGTrace

/// Hidden `gigtrace erf-bench`: times the iERF (SRD) and the gradient ERF of PFVs of one layer,
/// one PFV and all positions batched, for BENCHMARKS.md (peer: tools/bench_erf.py, PyTorch autograd).
struct ERFBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "erf-bench",
        abstract: "Measure ms per PFV of the iERF (SRD) and the gradient ERF (for BENCHMARKS.md).",
        shouldDisplay: false
    )

    @Option(help: "ONNX model file.")
    var model: String

    @Option(help: ".npy file with images [N, C, H, W]; image 0 is used.")
    var input: String

    @Option(help: "C×H×W tensor whose PFVs are traced.")
    var layer: String

    @Option(help: "Total threads (OpenBLAS threads × engine threads).")
    var threads: Int = 1

    @Option(help: "Untimed runs before measuring.")
    var warmup: Int = 1

    @Option(help: "Timed runs; the median is reported.")
    var runs: Int = 5

    @Flag(help: "Time only the iERF (SRD), not the gradient ERF.")
    var srdOnly = false

    func run() throws {
        let m = try Model.load(path: model, threads: threads)
        let images = try Npy.read(path: input).floatTensor(path: input)
        let tracer = try ReceptiveFieldTracer(model: m, layer: layer)
        let image = try tracer.image(images, index: 0)
        let g = tracer.layer
        let center = [PFVPosition(h: g.height / 2, w: g.width / 2)]
        let all = (0..<g.height).flatMap { h in (0..<g.width).map { PFVPosition(h: h, w: $0) } }
        func median(_ body: () throws -> Void) throws -> Double {
            for _ in 0..<max(0, warmup) { try body() }
            var times = [Double]()
            for _ in 0..<max(1, runs) {
                let start = DispatchTime.now().uptimeNanoseconds
                try body()
                times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
            }
            return times.sorted()[times.count / 2]
        }
        let srd1 = try median { _ = try tracer.srd(image: image, positions: center) }
        let srdAll = try median { _ = try tracer.srd(image: image, positions: all) }
        let grad1 = srdOnly ? .nan : try median { _ = try tracer.gradient(image: image, positions: center) }
        let gradAll = srdOnly ? .nan : try median { _ = try tracer.gradient(image: image, positions: all) }
        var fields = [String(format: "\"layer\": \"%@\", \"threads\": %d, \"pfvs_all\": %d", layer, threads, all.count),
                      String(format: "\"srd_ms_one\": %.1f, \"srd_ms_all\": %.1f, \"srd_ms_per_pfv_all\": %.2f",
                             srd1, srdAll, srdAll / Double(all.count))]
        if !srdOnly {
            fields.append(String(format: "\"grad_ms_one\": %.1f, \"grad_ms_all\": %.1f, \"grad_ms_per_pfv_all\": %.2f",
                                 grad1, gradAll, gradAll / Double(all.count)))
        }
        print("{" + fields.joined(separator: ", ") + "}")
    }
}
