import ArgumentParser
import CommandLineSupport
import Foundation

/// Hidden `gigtrace dataset bench`: decode + preprocess a dataset without a model and print the
/// throughput (images/s) — the figure BENCHMARKS.md compares with tools/bench_data.py.
struct DatasetBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dataset",
        abstract: "Measure decode + preprocessing throughput in images/s (for BENCHMARKS.md).",
        shouldDisplay: false
    )

    @OptionGroup var dataset: DatasetOptions

    @Option(help: "Passes over the selected images; the best pass is reported.")
    var repeats: Int = 3

    @Flag(help: "Only decode the images (no preprocessing, one thread): the decoder's share of the time.")
    var decodeOnly = false

    func run() throws {
        try reportingErrors { try measure() }
    }

    private func measure() throws {
        let loader = try dataset.makeLoader()
        var best = 0.0
        for _ in 0..<max(1, repeats) {
            let start = Date()
            var images = 0
            if decodeOnly {
                for index in loader.indices { _ = try loader.dataset.image(at: index); images += 1 }
            } else {
                let stream = loader.stream(prefetchThreads: dataset.prefetchThreads)
                while let batch = try stream.next() { images += batch.indices.count }
            }
            let rate = Double(images) / Date().timeIntervalSince(start)
            best = max(best, rate)
        }
        print(String(format: "images=%d prefetch_threads=%d decode_only=%d images_per_s=%.1f",
                     loader.indices.count, decodeOnly ? 0 : dataset.prefetchThreads, decodeOnly ? 1 : 0, best))
    }
}
