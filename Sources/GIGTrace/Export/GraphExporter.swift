import Core
import Foundation

/// `gigtrace export`: selects the graph and writes it as DOT, JSON or GraphML.
public enum GraphExporter {
    public enum Format: String, Sendable, CaseIterable {
        case dot, json, graphml
    }

    /// Writes the exported graph to `output` (temp file + rename); refuses an existing file unless
    /// `force`. With `patchesFolder` and `patchWriter`, each concept's top exemplar patch is written
    /// there and referenced from the output. Returns the exported graph.
    @discardableResult
    public static func export(_ reader: TraceReader, format: Format, options: GraphExportOptions, output: String,
                              force: Bool = false, patchesFolder: String? = nil,
                              patchWriter: (any ExemplarPatchWriter)? = nil) throws -> ExportGraph {
        try OutputPath.check(output, force: force)
        if let c = options.classIndex, !reader.layout.classNames.indices.contains(c) {
            throw TraceError.invalidSettings("class index \(c) outside 0..<\(reader.layout.classCount)")
        }
        var graph = ExportGraph(graph: reader.graph, modelSHA256: reader.header.model.sha256, options: options)
        if let folder = patchesFolder {
            guard let patchWriter else {
                throw InputError.invalidParameter(.patches, "exemplar patches need the dataset to cut them from")
            }
            try graph.attachPatches(folder: folder, writer: patchWriter, relativeTo: output)
        }
        let text: String
        switch format {
        case .dot: text = graph.dot()
        case .json: text = try graph.json()
        case .graphml: text = graph.graphML()
        }
        try AtomicFile.write(Data(text.utf8), to: output)
        return graph
    }
}
