import Foundation
import GIGTrace
import TestSupport
import Testing
@testable import CLI
@testable import Concepts
@testable import Core

/// `gigtrace trace --coding lasso|debiased` (docs/METHOD.md §3) through the real executable: the
/// setting round-trips through the trace and `query summary`, every reader's banks code with it,
/// and PCA refuses debiased codes with one line.
@Suite(.serialized) struct CodingCommandTests {
    static let stages = "/stage2/relu/Relu_output_0,/stage3/relu/Relu_output_0"
    let dir: String
    init() throws { dir = try makeTemporaryFolder("coding-cli") }

    /// Runs the built `gigtrace`; returns exit status, stdout and stderr.
    func gigtrace(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let exe = try #require(Bundle.main.executableURL).deletingLastPathComponent().appendingPathComponent("gigtrace").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: exe)
        process.arguments = arguments
        let (out, err) = (Pipe(), Pipe())
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile(), stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
    }

    /// Small demo trace settings (12 images, two layers, K = 4, 4 steps).
    func traceArguments(_ out: String, _ extra: [String] = []) -> [String] {
        ["trace", "--limit", "12", "--concept-images", "12", "--k", "4", "--steps", "4", "--layers", Self.stages,
         "--batch-size", "6", "--threads", "1", "--prefetch-threads", "0", "--out", out, "--quiet"] + extra
    }

    @Test func debiasedCodingRoundTripsThroughTheTraceAndItsSummary() throws {
        let lasso = "\(dir)/lasso.sqlite", debiased = "\(dir)/debiased.sqlite"
        for (path, extra) in [(lasso, [String]()), (debiased, ["--coding", "debiased"])] {
            let run = try gigtrace(traceArguments(path, extra))
            #expect(run.status == 0, "\(run.stderr)")
        }
        let (l, d) = (try TraceReader.open(lasso).header, try TraceReader.open(debiased).header)
        #expect(d.settings.extra["coding"] == "debiased" && d.settings.coding == .debiased)
        #expect(l.settings.extra["coding"] == nil && l.settings.coding == .lasso)
        // Every reader of the trace (evaluate, atlas, sanity --trace) codes with the header's banks.
        #expect(d.banks.allSatisfy { $0.coding == .debiased } && l.banks.allSatisfy { $0.coding == .lasso })
        // Same seed and PFVs: the same concepts; the refit rebuilds every PFV at least as well, so the
        // banks' R² on their training PFVs can only rise.
        for (a, b) in zip(l.banks, d.banks) {
            #expect(a.concepts == b.concepts)
            #expect(b.quality.r2 >= a.quality.r2 - 1e-9, "\(a.layer): R² \(a.quality.r2) (lasso) vs \(b.quality.r2) (debiased)")
        }
        let summary = try gigtrace(["query", debiased, "summary"])
        #expect(summary.status == 0)
        #expect(summary.stdout.contains("kmeans, debiased codes"), "\(summary.stdout.prefix(600))")
        #expect(try gigtrace(["query", lasso, "summary"]).stdout.contains("kmeans, lasso codes"))
        let json = try gigtrace(["query", debiased, "summary", "--json"])
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        let settings = object?["settings"] as? [String: Any]
        #expect((settings?["extra"] as? [String: String])?["coding"] == "debiased")

        // Banks reused from a Lasso trace (--concept-bank) code with the new trace's --coding.
        let resumed = try gigtrace(traceArguments("\(dir)/other.sqlite", ["--coding", "debiased", "--concept-bank", lasso]))
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(try TraceReader.open("\(dir)/other.sqlite").header.banks.allSatisfy { $0.coding == .debiased })
    }

    @Test func pcaWithDebiasedCodesIsAOneLineError() throws {
        let run = try gigtrace(traceArguments("\(dir)/pca.sqlite", ["--concepts", "pca", "--coding", "debiased"]))
        #expect(run.status != 0)
        let lines = run.stderr.split(separator: "\n")
        #expect(lines.count == 1, "\(run.stderr)")
        #expect(run.stderr.hasPrefix("error: --coding: debiased codes are defined for kmeans and nmf banks only; pca codes are linear"),
                "\(run.stderr)")
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/pca.sqlite"))
        let unknown = try gigtrace(traceArguments("\(dir)/x.sqlite", ["--coding", "ridge"]))
        #expect(unknown.status != 0 && unknown.stderr.contains("'ridge'"), "\(unknown.stderr)")
    }
}
