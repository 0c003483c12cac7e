import ArgumentParser
import Foundation
import GIGTrace

/// `gigtrace inspect MODEL.onnx`: what the engine sees in a model.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show a model's inputs, outputs, every named tensor with its shape, op counts and suggested trace layers."
    )

    @Argument(help: "The ONNX model file.")
    var model: String

    @Flag(help: "Print JSON instead of text.")
    var json = false

    func run() throws {
        try reportingErrors {
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
                print(String(decoding: data, as: UTF8.self))
                return
            }
            func shape(_ n: String) -> String { "[N, " + (m.tensorShapes[n] ?? []).map(String.init).joined(separator: ", ") + "]" }
            print("model: \(model) (opset \(m.opsetVersion))")
            for i in m.inputNames { print("input:  \(i) \(shape(i))") }
            for o in m.outputNames { print("output: \(o) \(shape(o))") }
            print("ops:")
            for (k, v) in m.opCounts.sorted(by: { $0.key < $1.key }) { print("  \(k): \(v)") }
            print("tensors:")
            for t in tensors {
                let name = t["name"] as? String ?? ""
                print("  \(name) \(shape(name))\((t["op"] as? String).map { "  <- \($0)" } ?? "")")
            }
            print("suggested trace layers:")
            for l in m.suggestedTraceLayers { print("  \(l) \(shape(l))") }
        }
    }
}
