import ArgumentParser

/// `gigtrace-bench`: the measurements behind BENCHMARKS.md, kept out of the product's command line.
/// Each subcommand prints a Markdown table or figures that a `tools/bench_*.py` peer script
/// compares against PyTorch, Captum or scikit-learn on the same work.
@main
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gigtrace-bench",
        abstract: "Benchmarks of GIGTrace's engine, concepts, GIG, iERF, data loading and trace store (see BENCHMARKS.md).",
        subcommands: [
            BenchEngineCommand.self,
            BenchConceptsCommand.self,
            BenchGIGCommand.self,
            ERFBenchCommand.self,
            DatasetBenchCommand.self,
            TraceDatabaseBenchCommand.self,
        ]
    )
}
