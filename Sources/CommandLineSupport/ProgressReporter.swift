import Foundation

/// Progress of a long job on stderr: count, rate and ETA, e.g.
/// `trace: 120/1000 images  35.2 images/s  ETA 0:25`.
///
/// On a terminal the line is redrawn in place at most 4 times a second; otherwise (a log file, CI)
/// one line is written every `logInterval` seconds. `quiet` silences everything but `finish`'s
/// summary, which `quietSummary` can silence too. The reporter is owned by the loop it reports on.
public struct ProgressReporter {
    public let label: String
    public let total: Int?
    public let unit: String
    public let quiet: Bool
    /// Seconds between lines when stderr is not a terminal.
    public var logInterval: Double = 10

    public private(set) var done: Int = 0
    /// When this reporter started timing.
    let start: Date
    private var lastDraw: Date = .distantPast
    private let isTerminal: Bool
    private let initial: Int

    /// `alreadyDone` counts work finished by an earlier run (a resumed job): it shows in the count
    /// but not in the rate.
    public init(label: String, total: Int?, unit: String = "images", quiet: Bool = false, alreadyDone: Int = 0) {
        self.label = label
        self.total = total
        self.unit = unit
        self.quiet = quiet
        self.done = alreadyDone
        self.initial = alreadyDone
        self.start = Date()
        self.isTerminal = isatty(STDERR_FILENO) != 0
    }

    /// Items per second since this reporter started (work of this run only).
    public var rate: Double { rate(at: Date()) }

    /// Items per second from the start to `now`.
    func rate(at now: Date) -> Double {
        let elapsed = now.timeIntervalSince(start)
        return elapsed > 0 ? Double(done - initial) / elapsed : 0
    }

    /// Seconds of timing before the status line shows a rate and an ETA: a reporter created at a
    /// job's first callback may already see a whole batch done, and its rate would read as millions
    /// per second.
    static let rateAfter: Double = 0.5

    /// Seconds since this reporter started.
    public var elapsed: Double { Date().timeIntervalSince(start) }

    /// Records `count` more finished items and redraws when due.
    public mutating func advance(by count: Int = 1) {
        done += count
        guard !quiet else { return }
        let now = Date()
        let due = isTerminal ? 0.25 : logInterval
        if now.timeIntervalSince(lastDraw) >= due || done == total {
            lastDraw = now
            let line = statusLine()
            ProgressReporter.writeStderr(isTerminal ? "\r\u{1B}[K" + line : line + "\n")
        }
    }

    /// Records that `count` items are finished in all (an absolute count, e.g. from a library's
    /// progress callback) and redraws when due.
    public mutating func advance(to count: Int) {
        advance(by: count - done)
    }

    /// The current status as one line (no newline); the rate and ETA once `rateAfter` seconds have passed.
    public func statusLine(at now: Date = Date()) -> String {
        var text = "\(label): \(done)"
        if let total { text += "/\(total)" }
        text += " \(unit)"
        guard now.timeIntervalSince(start) >= Self.rateAfter else { return text }
        let rate = rate(at: now)
        text += "  " + String(format: "%.1f", rate) + " \(unit)/s"
        if let total, rate > 0, done < total {
            text += "  ETA " + ProgressReporter.clock(Double(total - done) / rate)
        }
        return text
    }

    /// Ends the progress line and prints `summary` (default: count, time, rate) unless silenced.
    public func finish(summary: String? = nil, quietSummary: Bool = false) {
        if !quiet && isTerminal { ProgressReporter.writeStderr("\r\u{1B}[K") }
        guard !quietSummary else { return }
        let line = summary ?? "\(label): \(done) \(unit) in \(ProgressReporter.clock(elapsed)) (" + String(format: "%.1f", rate) + " \(unit)/s)"
        ProgressReporter.writeStderr(line + "\n")
    }

    /// `h:mm:ss` or `m:ss`.
    public static func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        let (h, m, sec) = (s / 3600, (s / 60) % 60, s % 60)
        return h > 0 ? String(format: "%d:%02d:%02d", h, m, sec) : String(format: "%d:%02d", m, sec)
    }

    /// Writes to stderr unbuffered (progress must show even when stdout is piped).
    public static func writeStderr(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}
