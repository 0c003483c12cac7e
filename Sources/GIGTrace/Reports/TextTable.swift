import Foundation

/// A plain-text table for terminal output: columns padded to their widest cell, numbers right-aligned.
public struct TextTable: Sendable {
    public var headers: [String]
    public var rows: [[String]] = []

    public init(_ headers: [String]) { self.headers = headers }

    public mutating func add(_ cells: [String]) { rows.append(cells) }

    public func render() -> String {
        let all = [headers] + rows
        let widths = headers.indices.map { c in all.map { $0.indices.contains(c) ? $0[c].count : 0 }.max() ?? 0 }
        func line(_ cells: [String]) -> String {
            headers.indices.map { c in
                let cell = cells.indices.contains(c) ? cells[c] : ""
                let pad = String(repeating: " ", count: widths[c] - cell.count)
                return Double(cell) != nil ? pad + cell : cell + pad
            }.joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
        }
        let rule = widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")
        return ([line(headers), rule] + rows.map(line)).joined(separator: "\n") + "\n"
    }

    /// A number with `digits` significant decimals, compact for tables.
    public static func number(_ value: Double, digits: Int = 4) -> String {
        if value == 0 { return "0" }
        if abs(value) >= 1e-3 && abs(value) < 1e6 {
            return String(format: "%.\(digits)f", value)
        }
        return String(format: "%.\(digits - 1)e", value)
    }
}
