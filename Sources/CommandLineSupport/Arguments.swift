import ArgumentParser
import Concepts
import Core
import Datasets
import GIGTrace
import PFV

// The library's choice enums, parsed by swift-argument-parser directly: `--concepts nmf`,
// `--quadrature riemann_left`, … An unknown value is refused by the parser, which lists the choices.
extension ConceptMethod: ExpressibleByArgument {}
extension Quadrature.Method: ExpressibleByArgument {}
extension GIGComputation.Mode: ExpressibleByArgument {}
extension ConceptTarget: ExpressibleByArgument {}
extension ConceptBank.Coding: ExpressibleByArgument {}
extension ERFMethod: ExpressibleByArgument {}
extension DatasetFormat: ExpressibleByArgument {}
extension GraphExporter.Format: ExpressibleByArgument {}
extension AttributionMethod: ExpressibleByArgument {}
extension AttributionRendering.Style: ExpressibleByArgument {}

/// A comma-separated option value, e.g. `--layers a,b,c` or `--k-per-layer 8,16,32`: items are
/// trimmed, empty items dropped, and every item must parse as `Element`. This is the one list
/// parser of the command line.
///
///     @Option var layers: CommaSeparated<String>?     // --layers /stage1/Relu,/stage2/Relu
///     layers?.items                                   // ["/stage1/Relu", "/stage2/Relu"]
public struct CommaSeparated<Element: ExpressibleByArgument>: ExpressibleByArgument {
    public var items: [Element]

    public init(_ items: [Element]) { self.items = items }

    public init?(argument: String) {
        let parts = argument.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        var items: [Element] = []
        for part in parts {
            guard let item = Element(argument: part) else { return nil }
            items.append(item)
        }
        guard !items.isEmpty else { return nil }
        self.items = items
    }

    public var defaultValueDescription: String {
        items.map { "\($0)" }.joined(separator: ",")
    }
}

/// The options nearly every command shares: how many CPU threads to use and whether to report
/// progress on stderr.
///
///     @OptionGroup var execution: ExecutionOptions   // --threads 2 --quiet
public struct ExecutionOptions: ParsableArguments {
    public init() {}

    @Option(parsing: .unconditional, help: "Total CPU threads (OpenBLAS threads × engine threads).")
    public var threads: Int = 2

    @Flag(help: "No progress or summary on stderr.")
    public var quiet = false

    public func validate() throws {
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1, got \(threads)") }
    }
}

/// How concepts are learned from sampled PFVs (METHOD §1, §3), shared by `trace` and `concepts`.
public struct ConceptLearningOptions: ParsableArguments {
    public init() {}

    @Option(parsing: .unconditional, help: "PFVs drawn per image, with probability ∝ their positive contribution to the predicted class.")
    public var samplesPerImage: Int = 4

    @Option(parsing: .unconditional, help: "Coding sparsity λ, relative to each PFV's norm (kmeans, nmf).")
    public var lambda: Float = ConceptOptions.defaultLambda

    @Option(parsing: .unconditional, help: "Seed of PFV sampling and concept learning.")
    public var seed: UInt64 = 0

    public func validate() throws {
        guard samplesPerImage >= 1 else { throw ValidationError("--samples-per-image must be at least 1, got \(samplesPerImage)") }
    }
}

/// Which images' mean edges a query or export uses (`--group`): all traced images, those labelled
/// `--class`, or those predicted as `--class`.
public enum ImageGroupChoice: String, ExpressibleByArgument, CaseIterable, Sendable {
    case all, label, prediction

    /// The library's group; `label` and `prediction` need the class.
    public func group(class classIndex: Int?) throws -> ImageGroup {
        switch (self, classIndex) {
        case (.all, _): return .all
        case (.label, let c?): return .label(c)
        case (.prediction, let c?): return .prediction(c)
        default: throw ValidationError("--group \(rawValue) needs --class")
        }
    }
}
