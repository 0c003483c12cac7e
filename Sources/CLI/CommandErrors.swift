import ArgumentParser
import Foundation

/// Runs a subcommand body; any error is printed as one line on stderr and the process exits 1.
func reportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let e as ExitCode {
        throw e
    } catch {
        FileHandle.standardError.write(Data("error: \(error)\n".utf8))
        throw ExitCode(1)
    }
}

/// Batch-wise progress on stderr (count, rate, ETA); silent when `quiet`.
struct Progress {
    let total: Int
    let quiet: Bool
    let start = Date()

    func report(_ done: Int, _ what: String) {
        guard !quiet else { return }
        let elapsed = Date().timeIntervalSince(start)
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        let eta = rate > 0 ? Double(total - done) / rate : 0
        let line = String(format: "\r%@ %d/%d  %.1f/s  ETA %.0fs", what, done, total, rate, eta)
        FileHandle.standardError.write(Data(line.utf8))
        if done >= total { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}
