import ArgumentParser
import CommandLineSupport
import Core
import Foundation

/// `gigtrace demo`: the built-in walk-through. Traces Fashion-MNIST test images through the demo
/// model, prints the best pathways into two classes, writes the concept graph as DOT (and SVG
/// when Graphviz's `dot` is installed) and the HTML atlas. Each step is the public command a user
/// would run.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Trace 1,000 Fashion-MNIST test images through the built-in demo model, print pathways, write demo/graph.dot (+ .svg) and the atlas demo/atlas/index.html.")

    @Option(help: "Folder for the trace database, the graph and the exemplar patches.")
    var out = "demo"

    @Option(help: "Number of Fashion-MNIST test images to trace.")
    var limit = 1000

    @Option(help: "Classes whose pathways are printed, comma-separated names or indices.")
    var classes = CommaSeparated<String>(["Sneaker", "Trouser"])

    @Option(help: "Pathways printed per class.")
    var top = 3

    @Flag(help: "Retrace even if the folder already holds a finished trace.")
    var force = false

    @Flag(help: "No progress output on stderr.")
    var quiet = false

    func run() throws {
        let trace = out + "/trace.sqlite"
        let graph = out + "/graph.dot"
        try reportingErrors {
            try OutputPath.prepareFolder(out)
        }
        if force || !FileManager.default.fileExists(atPath: trace) {
            var arguments = ["--limit", String(limit), "--out", trace]
            if force { arguments.append("--force") }
            if quiet { arguments.append("--quiet") }
            let command = try TraceCommand.parse(arguments)
            try command.run()
        } else {
            if !quiet { ProgressReporter.writeStderr("demo: reusing the finished trace \(trace) (--force retraces)\n") }
        }
        for name in classes.items {
            Self.say("Pathways into class \(name):\n")
            try QueryCommand.parse([trace, "pathways", "--class", name, "--top", String(top)]).run()
            Self.say("\n")
        }
        try ExportCommand.parse([trace, "--format", "dot", "--top-k", "3", "--patches", out + "/patches",
                                 "--out", graph, "--force"]).run()
        Self.say("wrote \(graph)\n")
        if let dot = Self.executableInPath("dot") {
            let svg = out + "/graph.svg"
            let process = Process()
            process.executableURL = URL(fileURLWithPath: dot)
            // Run inside the folder: the DOT file's patch paths are relative to it.
            process.arguments = ["-Tsvg", "graph.dot", "-o", "graph.svg"]
            process.currentDirectoryURL = URL(fileURLWithPath: out)
            try process.run()
            process.waitUntilExit()
            if process.terminationStatus == 0 {
                Self.say("wrote \(svg)\n")
            } else {
                ProgressReporter.writeStderr("demo: dot -Tsvg failed (exit \(process.terminationStatus)); the DOT file is still there\n")
            }
        } else {
            Self.say("Graphviz's `dot` is not installed; render with: cd \(out) && dot -Tsvg graph.dot -o graph.svg\n")
        }
        var atlas = [trace, "--out", out + "/atlas", "--force"]
        if quiet { atlas.append("--quiet") }
        try AtlasCommand.parse(atlas).run()
        Self.say("open the atlas: \(out)/atlas/index.html\n")
    }

    /// Writes to stdout unbuffered, so it interleaves correctly with the query command's output.
    static func say(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }

    /// The first executable called `name` on $PATH, if any.
    static func executableInPath(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}
