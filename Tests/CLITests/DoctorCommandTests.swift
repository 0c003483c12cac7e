import Core
import Foundation
import Testing

/// `gigtrace doctor` as a real process under several environments: the core it names must be the
/// one OpenBLAS itself reports to an independent caller (Python's ctypes calling
/// `openblas_get_corename` in libopenblas.so.0 under the same environment), a user's
/// OPENBLAS_CORETYPE is kept, and the start-up re-execution happens exactly once.
@Suite(.serialized) struct DoctorCommandTests {
    let exe: String

    init() throws {
        exe = try #require(Bundle.main.executableURL).deletingLastPathComponent().appendingPathComponent("gigtrace").path
    }

    /// Runs `executable arguments` with this process's environment changed by `changes` (nil
    /// removes a variable); returns stdout, and fails the test on a non-zero exit or a hang.
    func run(_ executable: String, _ arguments: [String], _ changes: [String: String?]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        for (key, value) in changes { environment[key] = value }
        process.environment = environment
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let deadline = Date().addingTimeInterval(120)
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        while process.isRunning && Date() < deadline { usleep(10_000) }
        #expect(!process.isRunning, "\(executable) \(arguments) did not finish")
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 0, "\(executable) \(arguments): \(stderr)")
        return String(decoding: stdout, as: UTF8.self)
    }

    /// The core OpenBLAS reports to Python under the changed environment.
    func pythonCore(_ changes: [String: String?]) throws -> String {
        let code = """
            import ctypes
            lib = ctypes.CDLL("libopenblas.so.0")
            lib.openblas_get_corename.restype = ctypes.c_char_p
            print(lib.openblas_get_corename().decode())
            """
        return try run("/usr/bin/env", ["python3", "-c", code], changes).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The value after `label` on doctor's line starting with it, up to the first space.
    func field(_ output: String, _ label: String) -> String? {
        output.split(separator: "\n").first { $0.hasPrefix(label) }
            .map { $0.dropFirst(label.count).trimmingCharacters(in: .whitespaces) }
            .flatMap { $0.split(separator: " ").first.map(String.init) }
    }

    static let coreType = "OPENBLAS_CORETYPE"

    @Test(arguments: [
        [:],                                     // the environment as given (CI sets OPENBLAS_CORETYPE=Haswell)
        [coreType: nil, "OPENBLAS_L2_SIZE": nil],  // OpenBLAS's own detection
        [coreType: "Prescott"],                  // a user's (weak) choice
        [coreType: "SkylakeX"],
    ] as [[String: String?]])
    func namesTheCoreOpenBLASReports(_ changes: [String: String?]) throws {
        let output = try run(exe, ["doctor", "--seconds", "0.05", "--size", "256"], changes)
        let named = try #require(field(output, "OpenBLAS core:"), "\(output)")
        #expect(named == (try pythonCore(changes)), "\(output)")
        let config = try #require(output.split(separator: "\n").first { $0.hasPrefix("OpenBLAS config:") })
        #expect(config.contains("OpenBLAS 0.") && config.contains(named))
        let userValue = changes[Self.coreType] ?? ProcessInfo.processInfo.environment[Self.coreType]
        if let userValue = userValue ?? nil, !userValue.isEmpty {
            // Kept, and said to be the user's.
            #expect(output.contains("set by you: \(Self.coreType)=\(userValue)") && output.contains("is your setting and kept"), "\(output)")
        } else {
            #expect(output.contains("OpenBLAS's own CPU detection") || output.contains("set by gigtrace"), "\(output)")
        }
        // The recommended core, when measured in a child process, is the one OpenBLAS runs under it.
        if let best = field(output, "Best core:"), best != named, best != "none" {
            let sgemm = try #require(output.split(separator: "\n").first { $0.hasPrefix("sgemm ") })
            let childCore = try pythonCore(changes.merging([Self.coreType: best]) { $1 })
            #expect(sgemm.contains("; \(childCore) ") && sgemm.contains("OPENBLAS_CORETYPE=\(best)"), "\(sgemm)")
        }
    }

    /// An OpenBLAS that reports the SSE3 fallback (a preloaded `openblas_get_corename` returning
    /// "Prescott", as Debian's 0.3.21 does on the Xeon): with OPENBLAS_CORETYPE unset the
    /// executable re-executes itself once — the reloaded library runs the recommended core, while
    /// the preloaded name still says Prescott, which must not cause a second re-execution.
    @Test func reexecutesOnceWhenOpenBLASFallsBack() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("doctor-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "char *openblas_get_corename(void) { return \"Prescott\"; }\n".write(toFile: "\(dir)/fake.c", atomically: true, encoding: .utf8)
        _ = try run("/usr/bin/env", ["clang", "-shared", "-fPIC", "-o", "\(dir)/fake.so", "\(dir)/fake.c"], [:])
        let output = try run(exe, ["doctor", "--seconds", "0"], [Self.coreType: nil, "LD_PRELOAD": "\(dir)/fake.so"])
        let cpu = try #require(CPUFeatures.current(), "this test needs an x86 /proc/cpuinfo")
        if let best = OpenBLASCore.recommended(for: cpu)?.core, OpenBLASCore.tier(best) > 0 {
            #expect(output.contains("OpenBLAS had picked Prescott") && output.contains("re-executed itself with \(Self.coreType)=\(best)"), "\(output)")
            // The real library, reloaded after the re-execution, runs what Python sees under that setting.
            let config = try #require(output.split(separator: "\n").first { $0.hasPrefix("OpenBLAS config:") })
            #expect(config.contains(" \(try pythonCore([Self.coreType: best])) "), "\(config)")
        } else {
            #expect(output.contains("nothing to change"), "\(output)")
        }
    }
}
