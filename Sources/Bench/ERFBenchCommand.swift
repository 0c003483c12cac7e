import ArgumentParser
import CNN
import Core
import Foundation
import PFV

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
        var best = [String: Double]()
        /// Median wall-clock ms of the runs. Also kept in `best`: the fastest run (`<name>_min`) and
        /// the median CPU time of the process (`<name>_cpu`) —
        /// on a loaded machine other processes add wall time, not CPU time.
        func median(_ name: String, _ body: () throws -> Void) throws -> Double {
            for _ in 0..<max(0, warmup) { try body() }
            var times = [Double](), cpu = [Double]()
            for _ in 0..<max(1, runs) {
                let start = DispatchTime.now().uptimeNanoseconds, cpuStart = Self.processCPUms()
                try body()
                cpu.append(Self.processCPUms() - cpuStart)
                times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
            }
            times.sort()
            cpu.sort()
            best[name + "_min"] = times[0]
            best[name + "_cpu"] = cpu[cpu.count / 2]
            return times[times.count / 2]
        }
        let srd1 = try median("srd_ms_one") { _ = try tracer.srd(image: image, positions: center) }
        let srdAll = try median("srd_ms_all") { _ = try tracer.srd(image: image, positions: all) }
        let grad1 = srdOnly ? .nan : try median("grad_ms_one") { _ = try tracer.gradient(image: image, positions: center) }
        let gradAll = srdOnly ? .nan : try median("grad_ms_all") { _ = try tracer.gradient(image: image, positions: all) }
        var fields = [String(format: "\"layer\": \"%@\", \"threads\": %d, \"pfvs_all\": %d", layer, threads, all.count),
                      String(format: "\"srd_ms_one\": %.1f, \"srd_ms_all\": %.1f, \"srd_ms_per_pfv_all\": %.2f",
                             srd1, srdAll, srdAll / Double(all.count))]
        if !srdOnly {
            fields.append(String(format: "\"grad_ms_one\": %.1f, \"grad_ms_all\": %.1f, \"grad_ms_per_pfv_all\": %.2f",
                                 grad1, gradAll, gradAll / Double(all.count)))
        }
        fields += best.keys.sorted().map { String(format: "\"%@\": %.1f", $0, best[$0] ?? .nan) }
        print("{" + fields.joined(separator: ", ") + "}")
    }

    /// CPU time of the whole process in ms (all threads).
    static func processCPUms() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
        return Double(t.tv_sec) * 1e3 + Double(t.tv_nsec) / 1e6
    }
}
