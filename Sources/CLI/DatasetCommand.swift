import ArgumentParser

/// `gigtrace dataset …`: inspect a dataset and export exactly what a model will see.
struct DatasetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dataset",
        abstract: "Inspect image datasets and export their preprocessed tensors.",
        subcommands: [DatasetInfoCommand.self, DatasetExportCommand.self]
    )
}
