import Core
import Foundation
import GIGTrace

/// `attribute --method generalized-ig`'s per-sample account (docs/METHOD.md §9): f(x), f(x'), the
/// sum of the attributions, its smooth and jump parts, the crossing points and the completeness
/// error |f(x) − f(x') − Σ_i GIG_i| / |f(x) − f(x')|, as a table, a CSV and a summary line.
struct CompletenessReport {
    let accounts: [GeneralizedIntegratedGradients.Result]
    let targets: [Int]

    static let headers = ["sample", "target", "f(x)", "f(baseline)", "sum GIG", "smooth", "jumps", "crossings", "completeness"]

    /// One row of numbers per sample, in `headers` order.
    func cells(_ i: Int) -> [String] {
        let r = accounts[i]
        return [String(i), String(targets[i]), Self.fixed(r.value), Self.fixed(r.baselineValue), Self.fixed(r.attributions.reduce(0, +)),
                Self.fixed(r.smoothTotal), Self.fixed(r.jumpTotal), String(r.crossings), String(format: "%.2e", r.completenessError)]
    }

    /// The table shown on stderr.
    func table() -> String {
        var table = TextTable(Self.headers)
        for i in accounts.indices { table.add(cells(i)) }
        return table.render()
    }

    /// CSV (numbers only, no quoting needed): the table's columns with full precision and, with
    /// `features`, one column per input element (`x0`, `x1`, …) holding its attribution.
    func csv(features: Bool) -> String {
        let width = features ? (accounts.first?.attributions.count ?? 0) : 0
        var lines = [(["sample", "target", "f_x", "f_baseline", "sum", "smooth", "jumps", "crossings", "completeness_error"]
                      + (0..<width).map { "x\($0)" }).joined(separator: ",")]
        for (i, r) in accounts.enumerated() {
            let numbers = [r.value, r.baselineValue, r.attributions.reduce(0, +), r.smoothTotal, r.jumpTotal]
            var row = [String(i), String(targets[i])] + numbers.map { "\($0)" } + [String(r.crossings), "\(r.completenessError)"]
            if features { row += r.attributions.map { "\($0 + 0)" } }   // + 0 turns −0 into 0
            lines.append(row.joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// "completeness error: median …, worst … over N samples".
    func summaryLine() -> String {
        let errors = accounts.map(\.completenessError)
        guard let worst = errors.max() else { return "completeness error: no samples" }
        return "completeness error: median \(String(format: "%.2e", Statistics.median(errors))), worst \(String(format: "%.2e", worst)) over \(errors.count) samples"
    }

    static func fixed(_ v: Double) -> String { String(format: "%.6f", v) }
}
