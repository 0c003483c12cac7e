import ArgumentParser
import Foundation
import Core

/// `gigtrace doctor`: which OpenBLAS kernels run, which the CPU supports, how fast each is, and
/// what gigtrace changed or would change.
///
/// ```sh
/// gigtrace doctor
/// ```
struct DoctorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check the BLAS set-up: OpenBLAS version, kernels (core), threads, CPU flags and sgemm speed.",
        discussion: """
            OpenBLAS picks its kernel set ("core") when it loads. Where its CPU table does not know the \
            processor (cloud VMs) it falls back to slow SSE3 kernels; gigtrace then re-executes itself \
            with OPENBLAS_CORETYPE set to the best core for the CPU's flags, unless you set \
            OPENBLAS_CORETYPE yourself. This command shows the outcome and times a 2048² sgemm with the \
            running core and, in a child process, with the recommended one.
            """)

    @Option(help: "Seconds per sgemm measurement (0 to skip measuring).")
    var seconds: Double = 1

    @Option(help: "Matrix size of the sgemm measurement.")
    var size: Int = 2048

    /// The child process's mode: only time sgemm and print "CORE GFLOPS".
    @Flag(help: .hidden)
    var sgemmOnly = false

    func validate() throws {
        guard seconds >= 0, seconds.isFinite else { throw ValidationError("--seconds must be ≥ 0, got \(seconds)") }
        guard size >= 1 else { throw ValidationError("--size must be ≥ 1, got \(size)") }
    }

    func run() throws {
        if sgemmOnly {
            print(OpenBLASCore.running, String(format: "%.1f", OpenBLASCore.measureSGEMM(size: size, seconds: seconds)))
            return
        }
        let environment = ProcessInfo.processInfo.environment
        let running = OpenBLASCore.running
        let cpu = CPUFeatures.current()
        let best = cpu.flatMap(OpenBLASCore.recommended(for:))
        let decision = OpenBLASCore.decide(running: running, cpu: cpu, dynamicArch: OpenBLASCore.isDynamicArch,
                                           environment: environment)

        print("OpenBLAS config:  \(OpenBLASCore.configuration)")
        print("OpenBLAS core:    \(running) (\(origin(of: decision)))")
        let numThreads = environment["OPENBLAS_NUM_THREADS"].map { "OPENBLAS_NUM_THREADS=\($0)" } ?? "OPENBLAS_NUM_THREADS unset"
        print("OpenBLAS threads: \(OpenBLASCore.threads) (\(numThreads); \(ProcessInfo.processInfo.activeProcessorCount) CPUs)")
        if let cpu {
            let family = cpu.family.map { ", family \($0)" } ?? ""
            print("CPU:              \(cpu.modelName) (\(cpu.vendor)\(family))")
            let relevant = ["sse3", "avx", "fma", "avx2", "avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512_bf16"]
            let present = relevant.filter { $0 == "sse3" ? cpu.has("pni") || cpu.has("sse3") : cpu.has($0) }
            let missing = relevant.filter { !present.contains($0) }
            print("CPU flags:        \(present.joined(separator: " "))\(missing.isEmpty ? "" : " (missing: \(missing.joined(separator: " ")))")")
        } else {
            print("CPU:              unknown (no x86 flags in /proc/cpuinfo)")
        }
        print("Best core:        \(best.map { "\($0.core) (\($0.reason))" } ?? "none known beyond OpenBLAS's own choice")")

        var measured: (running: Double, best: Double?)?
        if seconds > 0 {
            let here = OpenBLASCore.measureSGEMM(size: size, seconds: seconds)
            var line = String(format: "sgemm %d²:      %@ %.1f GFLOP/s", size, running, here)
            var other: Double?
            if let best, best.core.lowercased() != running.lowercased() {
                switch measureInChild(core: best.core) {
                case .success(let (core, gflops)):
                    other = gflops
                    line += String(format: "; %@ %.1f GFLOP/s (child process, OPENBLAS_CORETYPE=%@%@)", core, gflops, best.core,
                                   core.lowercased() == best.core.lowercased() ? "" : ": this OpenBLAS ran \(core) instead")
                case .failure(let error):
                    line += "; \(best.core) not measured: \(error)"
                }
            }
            print(line)
            measured = (here, other)
        }
        print("Verdict:          \(verdict(decision, running: running, measured: measured))")
    }

    /// Who chose the running core.
    func origin(of decision: OpenBLASCore.Decision) -> String {
        switch decision {
        case .keep, .reexecute: return "OpenBLAS's own CPU detection"
        case .userChoice(let value, _): return "set by you: \(OpenBLASCore.coreTypeVariable)=\(value)"
        case .corrected(let original, let coreType):
            return "set by gigtrace: \(OpenBLASCore.coreTypeVariable)=\(coreType ?? "?"); OpenBLAS had picked \(original)"
        case .fixedBuild: return "fixed at build time: this OpenBLAS is not DYNAMIC_ARCH"
        }
    }

    /// What gigtrace changed, or what the user could change.
    func verdict(_ decision: OpenBLASCore.Decision, running: String, measured: (running: Double, best: Double?)?) -> String {
        let speed = measured.flatMap { m in m.best.map { String(format: " (%.2f× the running core's sgemm here)", $0 / m.running) } } ?? ""
        switch decision {
        case .keep:
            return "nothing to change: \(running) is the best kernel set this CPU supports."
        case .reexecute(let core):
            // Only seen when the re-execution at start-up failed (no /proc/self/exe).
            return "gigtrace could not re-execute itself; set \(OpenBLASCore.coreTypeVariable)=\(core)\(speed)."
        case .userChoice(let value, let better):
            guard let better else { return "\(OpenBLASCore.coreTypeVariable)=\(value) is your setting and kept; it is the best this CPU supports." }
            return "\(OpenBLASCore.coreTypeVariable)=\(value) is your setting and kept; this CPU runs \(better)\(speed): "
                + "unset \(OpenBLASCore.coreTypeVariable) (gigtrace then picks the best core itself) or set it to \(better)."
        case .corrected(let original, let coreType):
            return "changed: OpenBLAS picked \(original) on its own; gigtrace re-executed itself with "
                + "\(OpenBLASCore.coreTypeVariable)=\(coreType ?? "?") (now running \(running))."
        case .fixedBuild(let better):
            guard let better else { return "nothing to change." }
            return "this OpenBLAS build has fixed kernels (\(running)); a DYNAMIC_ARCH build (Debian's libopenblas0-pthread) would run \(better)."
        }
    }

    /// sgemm GFLOP/s with OPENBLAS_CORETYPE=core, measured by this executable in a child process
    /// (OpenBLAS reads the variable only when it loads), and the core that child actually ran.
    func measureInChild(core: String) -> Result<(String, Double), InputError> {
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/proc/self/exe")
        child.arguments = ["doctor", "--sgemm-only", "--seconds", "\(seconds)", "--size", "\(size)"]
        var environment = ProcessInfo.processInfo.environment
        environment[OpenBLASCore.coreTypeVariable] = core
        environment[OpenBLASCore.reexecMarkerVariable] = nil
        child.environment = environment
        let out = Pipe()
        child.standardOutput = out
        do { try child.run() } catch { return .failure(.invalidInput("cannot start /proc/self/exe: \(error)")) }
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        child.waitUntilExit()
        let words = text.split(whereSeparator: \.isWhitespace)
        guard child.terminationStatus == 0, words.count == 2, let gflops = Double(words[1]) else {
            return .failure(.invalidInput("child exited \(child.terminationStatus) with output '\(text)'"))
        }
        return .success((String(words[0]), gflops))
    }
}
