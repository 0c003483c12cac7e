import COpenBLAS
import Foundation

/// The x86-64 CPU as Linux reports it in `/proc/cpuinfo`: vendor, model and feature flags.
///
/// The flags are the ones the kernel has enabled (AVX-512 appears only when the OS saves its
/// registers), so they are what a program may use — unlike raw CPUID bits.
///
/// ```swift
/// let cpu = CPUFeatures.current()            // nil off Linux
/// cpu?.has("avx512f")
/// ```
public struct CPUFeatures: Equatable, Sendable {
    /// `vendor_id`, e.g. "GenuineIntel", "AuthenticAMD".
    public var vendor: String
    /// `model name`, e.g. "AMD EPYC" or "Intel(R) Xeon(R) Processor".
    public var modelName: String
    /// `cpu family` (decimal), e.g. 25 for Zen 3, 26 for Zen 5, 6 for most Intel cores.
    public var family: Int?
    /// The lower-case feature flags, e.g. "avx2", "fma", "avx512f", "avx512_bf16".
    public var flags: Set<String>

    public init(vendor: String, modelName: String = "", family: Int? = nil, flags: Set<String>) {
        self.vendor = vendor
        self.modelName = modelName
        self.family = family
        self.flags = flags
    }

    /// True when the CPU reports `flag` (lower case, as in `/proc/cpuinfo`).
    public func has(_ flag: String) -> Bool { flags.contains(flag) }

    /// The features of the first processor listed in a `/proc/cpuinfo` text; nil when it lists
    /// no `flags` line (not x86, or not Linux's format).
    public static func parse(cpuinfo text: String) -> CPUFeatures? {
        var fields: [String: String] = [:]
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.trimmingCharacters(in: .whitespaces).isEmpty {
                if !fields.isEmpty { break }  // end of the first processor's block
                continue
            }
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = line[..<colon].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if fields[key] == nil { fields[key] = value }
        }
        guard let flags = fields["flags"] else { return nil }
        return CPUFeatures(vendor: fields["vendor_id"] ?? "", modelName: fields["model name"] ?? "",
                           family: fields["cpu family"].flatMap { Int($0) },
                           flags: Set(flags.lowercased().split(separator: " ").map(String.init)))
    }

    /// This machine's CPU, read from `/proc/cpuinfo`; nil when that file is missing or not x86's format.
    public static func current() -> CPUFeatures? {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return nil }
        return parse(cpuinfo: text)
    }
}

/// Which OpenBLAS kernel set ("core") suits a CPU, and whether the running one is weaker.
///
/// OpenBLAS built with `DYNAMIC_ARCH` (Debian's) picks its kernels when the library loads, from
/// `OPENBLAS_CORETYPE` or from its own CPU-model table. That table does not know every CPU: on
/// cloud VMs reporting a generic model it falls back to SSE3 kernels ("Prescott"), several times
/// slower than the AVX-512 ones the hardware runs. This type decides from the CPU's feature flags;
/// the `gigtrace` executable applies the decision by re-executing itself with `OPENBLAS_CORETYPE`
/// set (never when the user set it), and `gigtrace doctor` prints it.
///
/// ```swift
/// let cpu = CPUFeatures(vendor: "GenuineIntel", flags: ["avx2", "fma", "avx512f", "avx512bw", "avx512dq", "avx512vl"])
/// OpenBLASCore.recommended(for: cpu)                    // "SkylakeX"
/// OpenBLASCore.decide(running: "Prescott", cpu: cpu, dynamicArch: true, environment: [:])
/// // .reexecute(coreType: "SkylakeX")
/// ```
public enum OpenBLASCore {
    /// The variable OpenBLAS reads at load time to choose its kernels.
    public static let coreTypeVariable = "OPENBLAS_CORETYPE"
    /// Set by `gigtrace` when it re-executes itself, to the core OpenBLAS had chosen on its own.
    /// Its presence means `OPENBLAS_CORETYPE` came from gigtrace, and stops a second re-execution.
    public static let reexecMarkerVariable = "GIGTRACE_OPENBLAS_REEXEC"

    /// The best OpenBLAS core for `cpu` and why, or nil when no vector extension beyond SSE3 helps
    /// (or the CPU is unknown).
    ///
    /// AVX-512 F+BW+DQ+VL → "SkylakeX", or "Cooperlake" when the CPU also has AVX512-BF16 (same
    /// single-precision kernels plus BF16 ones); AVX2+FMA → "Zen" on AMD, "Haswell" otherwise;
    /// AVX → "Sandybridge".
    public static func recommended(for cpu: CPUFeatures) -> (core: String, reason: String)? {
        if ["avx512f", "avx512bw", "avx512dq", "avx512vl"].allSatisfy(cpu.has) {
            return cpu.has("avx512_bf16")
                ? ("Cooperlake", "AVX-512 F/BW/DQ/VL with AVX512-BF16")
                : ("SkylakeX", "AVX-512 F/BW/DQ/VL")
        }
        if cpu.has("avx2") && cpu.has("fma") {
            return cpu.vendor == "AuthenticAMD" ? ("Zen", "AVX2 + FMA on AMD") : ("Haswell", "AVX2 + FMA")
        }
        if cpu.has("avx") { return ("Sandybridge", "AVX") }
        return nil
    }

    /// The widest vector kernels a core name stands for: 3 AVX-512, 2 AVX2+FMA, 1 AVX, 0 anything
    /// else (SSE kernels, or a name this table does not know). Case-insensitive.
    public static func tier(_ core: String) -> Int {
        switch core.lowercased() {
        case "skylakex", "cooperlake", "sapphirerapids": return 3
        case "haswell", "zen": return 2
        case "sandybridge", "bulldozer", "piledriver", "steamroller", "excavator": return 1
        default: return 0
        }
    }

    /// What to do about the running core.
    public enum Decision: Equatable, Sendable {
        /// Nothing: the running core is as wide as the CPU allows (or nothing better is known).
        case keep
        /// Re-execute with `OPENBLAS_CORETYPE` set to this core.
        case reexecute(coreType: String)
        /// The user set `OPENBLAS_CORETYPE`; it is kept. `better` is the recommended core when
        /// the running one is weaker, else nil.
        case userChoice(value: String, better: String?)
        /// gigtrace already re-executed (the marker is set); `originalCore` is what OpenBLAS had
        /// chosen on its own. Never re-executes again, even if the new core is still weak.
        case corrected(originalCore: String, coreType: String?)
        /// The OpenBLAS build has one fixed core (no `DYNAMIC_ARCH`): `OPENBLAS_CORETYPE` has no effect.
        case fixedBuild(better: String?)
    }

    /// The decision for OpenBLAS running `running` on `cpu`, given the process environment.
    ///
    /// Re-executes only when all hold: the build is `DYNAMIC_ARCH`, `OPENBLAS_CORETYPE` is unset,
    /// the marker is unset (so at most once), and the recommended core is of a higher tier.
    public static func decide(running: String, cpu: CPUFeatures?, dynamicArch: Bool,
                              environment: [String: String]) -> Decision {
        let better = cpu.flatMap(recommended(for:)).map(\.core).flatMap { tier($0) > tier(running) ? $0 : nil }
        if let original = environment[reexecMarkerVariable] {
            return .corrected(originalCore: original, coreType: environment[coreTypeVariable])
        }
        // OpenBLAS ignores an empty OPENBLAS_CORETYPE, and so does this.
        if let value = environment[coreTypeVariable], !value.isEmpty { return .userChoice(value: value, better: better) }
        guard dynamicArch else { return .fixedBuild(better: better) }
        return better.map { .reexecute(coreType: $0) } ?? .keep
    }

    /// The core OpenBLAS runs, e.g. "Haswell" (`openblas_get_corename`).
    public static var running: String { String(cString: openblas_get_corename()) }

    /// OpenBLAS's build configuration, e.g. "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64".
    public static var configuration: String { String(cString: openblas_get_config()) }

    /// OpenBLAS's current thread count (`openblas_get_num_threads`).
    public static var threads: Int { Int(openblas_get_num_threads()) }

    /// True when this OpenBLAS chooses its kernels at load time (and so honours `OPENBLAS_CORETYPE`).
    public static var isDynamicArch: Bool { configuration.split(separator: " ").contains("DYNAMIC_ARCH") }

    /// The decision for this process: the running OpenBLAS, this CPU and this environment.
    public static func decideForThisProcess() -> Decision {
        decide(running: running, cpu: CPUFeatures.current(), dynamicArch: isDynamicArch,
               environment: ProcessInfo.processInfo.environment)
    }
}

extension OpenBLASCore {
    /// GFLOP/s of `cblas_sgemm` on two `size`×`size` matrices with OpenBLAS's current thread
    /// count: one warm-up call, then calls until `seconds` have passed (at least two).
    ///
    /// ```swift
    /// let gflops = OpenBLASCore.measureSGEMM(size: 2048, seconds: 1)
    /// ```
    public static func measureSGEMM(size: Int = 2048, seconds: Double = 1) -> Double {
        let n = max(1, size)
        let a = (0..<(n * n)).map { Float(($0 * 7919) % 2001) / 1000 - 1 }
        var c = [Float](repeating: 0, count: n * n)
        func call() {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(n), Int32(n),
                        1, a, Int32(n), a, Int32(n), 0, &c, Int32(n))
        }
        call()
        let start = Date()
        var calls = 0
        repeat {
            call()
            calls += 1
        } while calls < 2 || Date().timeIntervalSince(start) < seconds
        return Double(calls) * 2 * pow(Double(n), 3) / Date().timeIntervalSince(start) / 1e9
    }
}
