import ArgumentParser
import CommandLineSupport
import Foundation
import GIGTrace

/// `gigtrace query TRACE pathways|concept|image|summary`: reads a trace database.
struct QueryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "query",
        abstract: "Query a trace database: pathways to a class, a concept's neighbours, one image, or a summary.",
        discussion: """
            gigtrace query TRACE pathways --class NAME|INDEX [--top K]
            gigtrace query TRACE concept LAYER:INDEX
            gigtrace query TRACE image N
            gigtrace query TRACE summary
            Pathway scores multiply edge weights normalised per target: w(q→r) = max(mean A,0) / Σ_q max(mean A,0).
            """)

    enum Kind: String, ExpressibleByArgument, CaseIterable {
        case pathways, concept, image, summary
    }

    @Argument(help: "Trace database (.sqlite).")
    var trace: String

    @Argument(help: "What to query: pathways, concept, image or summary.")
    var kind: Kind

    @Argument(help: "The concept (LAYER:INDEX, layer by name or position) or the image index.")
    var target: String?

    @Option(name: .customLong("class"), help: "Class name or index (pathways; optional for concept to pick the images).")
    var className: String?

    @Option(help: "Number of pathways (default 5) or of neighbours per list (default 10).")
    var top: Int?

    @Option(help: "Images whose mean edges are used: all, label (images of --class) or prediction (predicted --class). Default: label for pathways, all otherwise.")
    var group: String?

    @Flag(help: "Hide edges whose 95% confidence interval contains 0.")
    var significantOnly = false

    @Flag(help: "Print JSON instead of tables.")
    var json = false

    func run() throws {
        try reportingErrors {
            let reader = try TraceReader.open(trace)
            let layout = reader.layout
            let classIndex = try className.map { try layout.classIndex($0) }
            if let top, top <= 0 { throw ValidationError("--top must be positive") }
            func imageGroup(default fallback: String) throws -> ImageGroup {
                switch group ?? fallback {
                case "all": return .all
                case "label", "prediction":
                    guard let classIndex else { throw ValidationError("--group \(group ?? fallback) needs --class") }
                    return group == "prediction" ? .prediction(classIndex) : .label(classIndex)
                default: throw ValidationError("--group must be all, label or prediction")
                }
            }
            let output: String
            switch kind {
            case .pathways:
                guard let classIndex else { throw ValidationError("pathways needs --class NAME|INDEX") }
                let pathways = PathwayFinder.best(in: reader.graph, classIndex: classIndex, top: top ?? 5,
                                                  group: try imageGroup(default: "label"), significantOnly: significantOnly)
                output = json ? try JSONText.encode(pathways) : PathwayFinder.table(pathways)
            case .concept:
                guard let target else { throw ValidationError("concept needs LAYER:INDEX") }
                let node = try layout.node(target)
                let report = ConceptReport(graph: reader.graph, layer: node.layer, index: node.index, top: top ?? 10,
                                           group: try imageGroup(default: classIndex == nil ? "all" : "label"),
                                           significantOnly: significantOnly)
                output = json ? try JSONText.encode(report) : report.table()
            case .image:
                guard let target, let n = Int(target) else { throw ValidationError("image needs an image index N") }
                let report = try ImageReport(record: try reader.image(n), layout: layout)
                output = json ? try JSONText.encode(report) : report.table()
            case .summary:
                let summary = try TraceSummary(reader: reader)
                output = json ? try JSONText.encode(summary) : summary.table()
            }
            FileHandle.standardOutput.write(Data(output.utf8))
        }
    }
}
