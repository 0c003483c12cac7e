import ArgumentParser

/// The `gigtrace` executable: one subcommand type per file in this folder (entry point: `Entry`).
struct GIGTraceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gigtrace",
        abstract: "Mechanistic concept tracing in CNNs with Generalized Integrated Gradients (GIG).",
        subcommands: [
            // The workflow, in the order a researcher meets it.
            DemoCommand.self,
            TraceCommand.self,
            ConceptsCommand.self,
            QueryCommand.self,
            ExportCommand.self,
            AtlasCommand.self,
            MergeCommand.self,
            EvaluateCommand.self,
            ERFCommand.self,
            AttributeCommand.self,
            SanityCommand.self,
            // Looking at models and data.
            InspectCommand.self,
            ForwardCommand.self,
            GradientCommand.self,
            DatasetCommand.self,
            DoctorCommand.self,
        ]
    )
}
