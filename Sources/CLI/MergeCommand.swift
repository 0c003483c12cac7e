import ArgumentParser
import CommandLineSupport
import Foundation
import GIGTrace

/// `gigtrace merge OUT SHARD...`: merges trace databases of disjoint shards into one.
struct MergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Merge trace databases of shards (gigtrace trace --shard I/N) into the trace of the whole dataset.",
        discussion: "Shards must share the model, settings (except the shard index) and concept banks, and cover disjoint images.")

    @Argument(help: "Output trace database (.sqlite).")
    var output: String

    @Argument(help: "Shard trace databases to merge.")
    var shards: [String]

    @Flag(help: "Overwrite the output if it exists.")
    var force = false

    @Flag(help: "Print nothing on success.")
    var quiet = false

    func run() throws {
        try reportingErrors {
            let report = try TraceMerger.merge(output: output, shards: shards, force: force)
            if !quiet {
                var message = "merged \(report.shards) shards, \(report.images) images, into \(output)"
                if report.images < report.datasetCount {
                    message += " (the dataset has \(report.datasetCount): \(report.datasetCount - report.images) not traced)"
                }
                FileHandle.standardError.write(Data((message + "\n").utf8))
            }
        }
    }
}
