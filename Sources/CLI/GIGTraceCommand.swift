import ArgumentParser
import GIGTrace

/// The `gigtrace` executable: one subcommand type per file in this folder.
@main
struct GIGTraceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gigtrace",
        abstract: "Mechanistic concept tracing in CNNs with Generalized Integrated Gradients (GIG).",
        subcommands: [
            DemoCommand.self,
            InspectCommand.self,
            ForwardCommand.self,
            GradientCommand.self,
            BenchEngineCommand.self,
            DatasetCommand.self,
            MergeCommand.self,
            QueryCommand.self,
            ExportCommand.self,
            BenchConceptsCommand.self,
            TraceDatabaseBenchCommand.self,
            ERFCommand.self,
            ERFBenchCommand.self,
            ConceptsCommand.self,
            TraceCommand.self,
            BenchGIGCommand.self,
        ]
    )
}
