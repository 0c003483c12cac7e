import ArgumentParser
import CommandLineSupport
import Core
import Foundation
import GIGTrace

/// `gigtrace atlas TRACE --out DIR`: the HTML atlas of a trace; with `--figure pathways`, the
/// pathway figure of one class as a PNG instead.
struct AtlasCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "atlas",
        abstract: "Write a static HTML atlas of a trace (classes, pathways, concepts with exemplars, the graph, images), or a pathway figure as PNG.",
        discussion: """
            gigtrace atlas TRACE --out DIR                                  # open DIR/index.html, works offline
            gigtrace atlas TRACE --figure pathways --class NAME --png FILE  # the README's pathway figure
            Pictures are cut from the traced dataset, re-opened as the trace records it; exemplar patches are
            tinted by their iERF (METHOD §2) when the traced model is found (--model overrides its recorded path).
            Pathways and edge statistics as in `gigtrace query` (METHOD §5-6).
            """)

    enum Figure: String, ExpressibleByArgument, CaseIterable {
        case pathways
    }

    enum GraphLayout: String, ExpressibleByArgument, CaseIterable {
        case auto, dot, builtin
    }

    @Argument(help: "Trace database (.sqlite).")
    var trace: String

    @Option(help: "Output folder of the atlas (written to a temporary folder beside it, then renamed).")
    var out: String?

    @Option(help: "Draw a figure instead of the atlas: pathways (needs --class and --png).")
    var figure: Figure?

    @Option(name: .customLong("class"), help: "Class of the figure (name or index).")
    var className: String?

    @Option(help: "PNG file of the figure.")
    var png: String?

    @Option(help: "Pathways per class page and per figure.")
    var top = 5

    @Option(help: "Exemplars shown per concept (at most the trace's exemplar limit).")
    var exemplars = 8

    @Option(help: "Rows per page of the class, concept and image lists.")
    var pageSize = 100

    @Option(help: "Traced images that get their own page (the first ones by index).")
    var imagePages = 1000

    @Option(help: "Graph page layout: auto (Graphviz dot when installed, else built-in), dot or builtin.")
    var layout: GraphLayout = .auto

    @Option(help: "The traced model, when it has moved since tracing (for iERF overlays).")
    var model: String?

    @Flag(help: "Replace an existing output.")
    var force = false

    @Flag(help: "No progress output on stderr.")
    var quiet = false

    func validate() throws {
        for (name, value) in [("--top", top), ("--exemplars", exemplars), ("--page-size", pageSize)] where value <= 0 {
            throw ValidationError("\(name) must be positive, got \(value)")
        }
        if imagePages < 0 { throw ValidationError("--image-pages must be ≥ 0, got \(imagePages)") }
        if figure != nil {
            guard className != nil, png != nil else { throw ValidationError("--figure pathways needs --class NAME and --png FILE") }
            guard out == nil else { throw ValidationError("--figure writes --png, not --out; run without --figure for the atlas") }
        } else if out == nil {
            throw ValidationError("--out DIR is required (or --figure pathways --class NAME --png FILE)")
        }
    }

    func run() throws {
        try reportingErrors {
            if let png, figure != nil {
                try writeFigure(png)
                return
            }
            guard let out else { return }
            try AtlasWriter.validateOutput(out, force: force)
            var options = AtlasOptions()
            options.exemplars = exemplars
            options.pathways = top
            options.pageSize = pageSize
            options.imagePages = imagePages
            switch layout {
            case .builtin: options.dotExecutable = nil
            case .auto: options.dotExecutable = DemoCommand.executableInPath("dot")
            case .dot:
                guard let dot = DemoCommand.executableInPath("dot") else {
                    throw ValidationError("--layout dot: Graphviz's dot is not on PATH (install graphviz, or use --layout builtin)")
                }
                options.dotExecutable = dot
            }
            let start = Date()
            let reader = try TraceReader.open(trace)
            let images = try AtlasImages(reader: reader, tracePath: trace, modelPath: model)
            var progress: ProgressReporter?
            let summary = try AtlasWriter(reader: reader, images: images, options: options).write(to: out, force: force) { _, total in
                if progress == nil { progress = ProgressReporter(label: "atlas", total: total, unit: "files", quiet: quiet) }
                progress?.advance()
            }
            for note in summary.notes where !quiet { ProgressReporter.writeStderr("atlas: \(note)\n") }
            if !quiet {
                ProgressReporter.writeStderr(String(format: "atlas: %d pages, %d pictures, %.1f MB in %.1f s (graph: %@)\n",
                                                    summary.pages, summary.pictures, Double(summary.bytes) / 1e6,
                                                    Date().timeIntervalSince(start), summary.graphLayout))
            }
            FileHandle.standardOutput.write(Data("\(out)/index.html\n".utf8))
        }
    }

    func writeFigure(_ png: String) throws {
        guard let className else { return }
        let reader = try TraceReader.open(trace)
        let c = try reader.layout.classIndex(className)
        let directory = URL(fileURLWithPath: png).deletingLastPathComponent().path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ValidationError("--png \(png): the folder \(directory) does not exist")
        }
        if FileManager.default.fileExists(atPath: png), !force {
            throw ValidationError("--png \(png) already exists (pass --force to overwrite it)")
        }
        let images = try AtlasImages(reader: reader, tracePath: trace, modelPath: model, ierf: false)
        let found = PathwayFinder.best(in: reader.graph, classIndex: c, top: top, group: .label(c), exemplars: exemplars)
        var figure = PathwayFigure(pathways: found, aliases: LayerAliases(layout: reader.layout))
        figure.exemplars = min(exemplars, 3)
        try figure.render(images: images).writePNG(to: png)
        if !quiet { ProgressReporter.writeStderr("atlas: wrote \(png) (\(found.count) pathways into \(reader.layout.classNames[c]))\n") }
    }
}
