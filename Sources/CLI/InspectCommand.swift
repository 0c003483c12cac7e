import ArgumentParser
import CommandLineSupport
import CNN
import Core
import Foundation

/// `gigtrace inspect --model MODEL.onnx`: what the engine sees in a model.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show a model's inputs, outputs, every named tensor with its shape, op counts and suggested trace layers."
    )

    @Option(help: "The ONNX model file.")
    var model: String

    @Flag(help: "Print JSON instead of text.")
    var json = false

    func run() throws {
        try reportingErrors { print(try report()) }
    }

    /// The text (or JSON) that `run` prints; errors are one-line `UserError`s.
    func report() throws -> String {
        let m = try Model.load(path: model)
        let tensors = m.tensorNames.map { name -> [String: Any] in
            var entry: [String: Any] = ["name": name, "shape": m.tensorShapes[name] ?? []]
            if let p = m.producer[name] { entry["op"] = m.nodes[p].op.kind }
            return entry
        }
        if json {
            let object: [String: Any] = [
                "inputs": m.inputNames.map { ["name": $0, "shape": m.tensorShapes[$0] ?? []] },
                "outputs": m.outputNames.map { ["name": $0, "shape": m.tensorShapes[$0] ?? []] },
                "opset": m.opsetVersion,
                "tensors": tensors,
                "op_counts": m.opCounts,
                "suggested_trace_layers": m.suggestedTraceLayers,
            ]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
            return String(decoding: data, as: UTF8.self)
        }
        func shape(_ n: String) -> String { "[N, " + (m.tensorShapes[n] ?? []).map(String.init).joined(separator: ", ") + "]" }
        var lines = ["model: \(model) (opset \(m.opsetVersion))"]
        for i in m.inputNames { lines.append("input:  \(i) \(shape(i))") }
        for o in m.outputNames { lines.append("output: \(o) \(shape(o))") }
        lines.append("ops:")
        for (k, v) in m.opCounts.sorted(by: { $0.key < $1.key }) { lines.append("  \(k): \(v)") }
        lines.append("tensors:")
        for t in tensors {
            let name = t["name"] as? String ?? ""
            lines.append("  \(name) \(shape(name))\((t["op"] as? String).map { "  <- \($0)" } ?? "")")
        }
        lines.append("suggested trace layers:")
        for l in m.suggestedTraceLayers { lines.append("  \(l) \(shape(l))") }
        return lines.joined(separator: "\n")
    }
}
