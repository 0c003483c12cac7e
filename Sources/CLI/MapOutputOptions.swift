import ArgumentParser

/// Where `attribute` and `sanity` write, and how they run: the output folder, threads, --quiet.
struct MapOutputOptions: ParsableArguments {
    @Option(help: "Output folder (created if missing; checked before any work).")
    var out: String

    @Option(help: "Total CPU threads (BLAS threads × engine threads).")
    var threads: Int = 1

    @Flag(help: "No progress, table or summary on stderr.")
    var quiet = false

    func validate() throws {
        guard threads > 0 else { throw ValidationError("--threads must be positive, got \(threads)") }
    }
}
