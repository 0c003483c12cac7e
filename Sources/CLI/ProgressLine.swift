import Foundation

/// Progress of a long loop on stderr — count, rate, ETA — at most about once a second; silent
/// when `quiet`.
struct ProgressLine {
    let label: String
    let total: Int
    let quiet: Bool
    private let start = Date()
    private var lastPrint = Date.distantPast

    init(label: String, total: Int, quiet: Bool) {
        self.label = label
        self.total = total
        self.quiet = quiet
    }

    /// Reports `done` of `total`; always prints when `done == total`.
    mutating func update(_ done: Int) {
        guard !quiet else { return }
        let now = Date()
        guard done >= total || now.timeIntervalSince(lastPrint) >= 1 else { return }
        lastPrint = now
        let elapsed = max(now.timeIntervalSince(start), 1e-9)
        let rate = Double(done) / elapsed
        let eta = rate > 0 ? Double(total - done) / rate : 0
        let line = String(format: "\r%@ %d/%d (%.0f/s, ETA %.0fs)", label, done, total, rate, eta)
        FileHandle.standardError.write(Data((line + (done >= total ? "\n" : "")).utf8))
    }
}
