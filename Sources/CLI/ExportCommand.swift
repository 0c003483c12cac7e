import ArgumentParser
import CommandLineSupport
import Foundation
import GIGTrace

/// `gigtrace export TRACE --format dot|json|graphml --out FILE`: writes the concept graph.
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export the concept graph of a trace as Graphviz DOT, JSON (schemas/graph.schema.json) or GraphML.")

    @Argument(help: "Trace database (.sqlite).")
    var trace: String

    @Option(help: "Output format: dot, json or graphml.")
    var format: String

    @Option(name: .customLong("class"), help: "Keep only the subgraph feeding this class (name or index).")
    var className: String?

    @Option(help: "Keep at most K incoming edges per node, strongest |mean| first.")
    var topK: Int?

    @Option(help: "Drop edges whose |mean GIG| is below W.")
    var minWeight: Double = 0

    @Option(help: "Images whose mean edges are exported: all, label or prediction (the last two need --class).")
    var group = "all"

    @Flag(help: "Drop edges whose 95% confidence interval contains 0.")
    var significantOnly = false

    @Option(help: "Folder to write each concept's top exemplar patch (PNG, cut from the traced dataset re-opened as the trace records it) into; nodes then reference them.")
    var patches: String?

    @Option(help: "Output file.")
    var out: String

    @Flag(help: "Overwrite the output if it exists.")
    var force = false

    func run() throws {
        try reportingErrors {
            guard let format = GraphExporter.Format(rawValue: format) else {
                throw ValidationError("--format must be dot, json or graphml")
            }
            if let topK, topK <= 0 { throw ValidationError("--top-k must be positive") }
            let reader = try TraceReader.open(trace)
            let classIndex = try className.map { try reader.layout.classIndex($0) }
            let imageGroup: ImageGroup
            switch (group, classIndex) {
            case ("all", _): imageGroup = .all
            case ("label", let c?): imageGroup = .label(c)
            case ("prediction", let c?): imageGroup = .prediction(c)
            default: throw ValidationError("--group must be all, or label/prediction together with --class")
            }
            let options = GraphExportOptions(classIndex: classIndex, topK: topK, minWeight: minWeight, group: imageGroup,
                                             significantOnly: significantOnly)
            // Exemplar patches are cut from the traced dataset, re-opened from the trace header.
            let writer = try patches.map { _ in try DatasetPatchWriter(header: reader.header, tracePath: trace) }
            try GraphExporter.export(reader, format: format, options: options, output: out, force: force,
                                     patchesFolder: patches, patchWriter: writer)
        }
    }
}
