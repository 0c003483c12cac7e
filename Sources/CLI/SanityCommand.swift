import ArgumentParser
import CNN
import CommandLineSupport
import Core
import Datasets
import Foundation
import GIGTrace

/// Which model sanity checks `gigtrace sanity` runs (METHOD §7).
enum SanityCheckKind: String, CaseIterable, ExpressibleByArgument {
    case cascading, independent, perturbation
}

/// `gigtrace sanity`: the model-randomization (cascading, independent) and model-perturbation
/// checks of METHOD §7, for input attribution maps (`--model` and the dataset options) or, with
/// `--trace`, for a trace's concept graph: a table, JSON (schemas/sanity.schema.json) and, for
/// maps, the cascading-randomization figure as a PNG.
struct SanityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sanity",
        abstract: "Sanity checks for attribution maps or, with --trace, concept graphs: cascading/independent randomization and perturbation (docs/METHOD.md §7).",
        discussion: """
        Maps (--model, --data ...): writes into --out sanity.json (schemas/sanity.schema.json), sanity.txt \
        (the table) and cascading.png (rows: images × methods; columns: the original model, then the layers \
        re-initialised from the logits down). A method passes randomization when the mean Spearman of \
        absolute maps at the last cascading stage is below 0.5, perturbation when it is at least 0.9.

        Graphs (--trace TRACE.sqlite): retraces the first --images traced images with the original model \
        and with every randomized and perturbed copy, coding each traced layer with the trace's own \
        concept banks and GIG settings; per block of edges (layer → next layer, layer → classes) reports \
        Spearman and Kendall (τ-b) correlation of the mean edges with the original graph's, and the \
        Jaccard overlap of the edges each class's --top-k pathways use (and of the pathways themselves). \
        The model and dataset come from the trace (--model and --data when they moved). Writes \
        sanity.json and sanity.txt into --out.

        --save-models DIR writes every randomized and perturbed model as ONNX (the original file with \
        the changed initializers replaced).
        """
    )

    @Option(help: "The ONNX model file (maps); with --trace, the traced model when it moved since tracing.")
    var model: String?

    @Option(help: "Check a trace's concept graph instead of maps: the trace database (.sqlite) of `gigtrace trace`.")
    var trace: String?

    @OptionGroup var dataset: DatasetOptions

    @Option(help: "Maps: only these images, comma-separated positions in the selection.")
    var indices: CommaSeparated<Int>?

    @Option(help: "Maps: comma-separated methods: \(SanityCommand.methodsChecked.map(\.rawValue).joined(separator: ", ")) (default ig,ggig,gradxinput,srd).")
    var methods: CommaSeparated<AttributionMethod>?

    @Option(help: "Comma-separated checks: \(SanityCheckKind.allCases.map(\.rawValue).joined(separator: ", ")).")
    var checks = CommaSeparated<SanityCheckKind>([.cascading, .independent, .perturbation])

    @Option(help: "Maps: logit to explain: pred, label, a class index, or a class name (default pred).")
    var target: String?

    @Option(help: "Maps, IG: Captum's n_steps (default 50).")
    var steps: Int?

    @Option(help: "Maps, IG: Captum's method (default gausslegendre).")
    var quadrature: Quadrature.Method?

    @Option(help: "Graphs: retrace the first N traced images (by index).")
    var images: Int = 16

    @Option(help: "Graphs: pathways per class compared (Jaccard overlap).")
    var topK: Int = 5

    @Option(help: "Perturbation: noise standard deviation σ.")
    var sigma: Float = 1e-3

    @Option(help: "Perturbation: accepted models N.")
    var perturbedModels: Int = 20

    @Option(help: "Perturbation: candidate models tried at most (default 10·N).")
    var maxTries: Int?

    @Option(help: "Seed of the re-initialisations and the perturbation noise.")
    var seed: UInt64 = 0

    @Option(help: "Maps: PNG colours of the figure: signed or absolute (default absolute).")
    var render: AttributionRendering.Style?

    @Option(help: "Write every randomized and perturbed model as ONNX into this folder (created if missing).")
    var saveModels: String?

    @OptionGroup var output: MapOutputOptions

    /// The methods the randomization and perturbation checks apply to: all but Generalized IG,
    /// whose jumps come from tree ensembles (no weights to re-initialise or perturb) and which
    /// equals IG on models without them.
    static let methodsChecked = AttributionMethod.allCases.filter { $0 != .generalizedIG }

    func validate() throws {
        guard sigma > 0, sigma.isFinite else { throw ValidationError("--sigma must be positive, got \(sigma)") }
        guard perturbedModels > 0 else { throw ValidationError("--perturbed-models must be at least 1, got \(perturbedModels)") }
        guard images > 0 else { throw ValidationError("--images must be at least 1, got \(images)") }
        guard topK > 0 else { throw ValidationError("--top-k must be at least 1, got \(topK)") }
        if let steps, steps < 1 { throw ValidationError("--steps must be at least 1, got \(steps)") }
        if let m = methods?.items.first(where: { !Self.methodsChecked.contains($0) }) {
            let choices = Self.methodsChecked.map(\.rawValue).joined(separator: ", ")
            throw ValidationError("--methods: \(m.rawValue) is not checked by sanity (its checks re-initialise and perturb weights, which tree ensembles do not have; without trees it is IG); choose from \(choices)")
        }
        if trace != nil {
            let mapOnly: [(String, Bool)] = [("--methods", methods != nil), ("--target", target != nil), ("--steps", steps != nil),
                                             ("--quadrature", quadrature != nil), ("--render", render != nil), ("--indices", indices != nil)]
            if let (name, _) = mapOnly.first(where: \.1) {
                throw ValidationError("\(name) applies to map checks; with --trace the concept graph is checked")
            }
            if let name = dataset.givenOptions.first(where: { $0 != "--format" }) {
                throw ValidationError("\(name): with --trace the dataset and its preprocessing are the trace's (only --data, when it moved)")
            }
        } else if model == nil {
            throw ValidationError("--model is required (or --trace to check a concept graph)")
        }
    }

    func run() throws {
        try reportingErrors { try compute() }
    }

    func compute() throws {
        let checkList = checks.items
        try AttributeCommand.prepareFolder(output.out)
        if let saveModels { try OutputPath.prepareFolder(saveModels) }
        if let trace {
            try checkGraph(trace: trace, checks: checkList)
        } else {
            try checkMaps(checks: checkList)
        }
    }

    /// The randomized and perturbed copies of `m`, in report order: cascading stages (logits
    /// first), independent layers, then the perturbed models accepted for `images` and `targets`.
    /// Randomized copies are made when asked for, so only one is in memory at a time.
    func variants(of m: Model, checks: [SanityCheckKind], images: Tensor, targets: [Int],
                  filter: MapSanityCheck.PerturbationFilter = .everyImage) throws -> (list: [SanityVariant], accepted: Int, tried: Int) {
        let check = MapSanityCheck(model: m, methods: [], settings: try .standard())
        var stages = [MapSanityCheck.Stage]()
        if checks.contains(.cascading) { stages += check.cascadingStages() }
        if checks.contains(.independent) { stages += check.independentStages() }
        var list = stages.map { stage in
            SanityVariant(check: stage.check, label: stage.label) {
                var rng = SamplingRNG(seed: seed &+ UInt64(stage.layers.count) &* 7919 &+ (stage.check == "cascading" ? 0 : 1))
                return try m.randomizing(stage.layers, rng: &rng)
            }
        }
        var perturbed = [Model](), tried = 0
        if checks.contains(.perturbation) {
            var rng = SamplingRNG(seed: seed)
            (perturbed, tried) = try check.perturbedModels(count: perturbedModels, sigma: sigma, images: images, targets: targets,
                                                           maxTries: maxTries ?? 10 * perturbedModels, filter: filter, rng: &rng)
        }
        list += perturbed.enumerated().map { k, p in SanityVariant(check: "perturbation", label: "model \(k)") { p } }
        return (list, perturbed.count, tried)
    }

    /// The file --save-models writes variant `number` to: NNN-CHECK-STAGE.onnx, the layer name sanitised.
    static func modelFileName(_ variant: SanityVariant, number: Int) -> String {
        String(format: "%03d-", number) + OnnxWriter.fileName("\(variant.check)-\(variant.label)") + ".onnx"
    }

    /// Makes a variant's model and, with --save-models, writes it as ONNX first.
    func make(_ variant: SanityVariant, number: Int, original: String) throws -> Model {
        let m = try variant.make()
        if let saveModels {
            try OnnxWriter.write(m, replacingInitializersOf: original, to: "\(saveModels)/\(Self.modelFileName(variant, number: number))")
        }
        return m
    }

    /// With --save-models, models.json in that folder: each file with its check and stage (the
    /// layer's full name), so the sanitised file names need not be decoded.
    func writeModelIndex(_ variants: [SanityVariant]) throws {
        guard let saveModels else { return }
        let index = variants.enumerated().map { number, v in
            ["file": Self.modelFileName(v, number: number), "check": v.check, "stage": v.label]
        }
        try AtomicFile.write(try JSONSerialization.data(withJSONObject: index, options: [.prettyPrinted, .sortedKeys]),
                             to: "\(saveModels)/models.json")
    }

    func warnIfFewPerturbed(_ accepted: Int, tried: Int, checks: [SanityCheckKind]) {
        if !output.quiet && checks.contains(.perturbation) && accepted < perturbedModels {
            ProgressReporter.writeStderr("warning: only \(accepted) of \(perturbedModels) perturbed models passed the filter in \(tried) tries\n")
        }
    }

    /// The checks on input attribution maps.
    func checkMaps(checks checkList: [SanityCheckKind]) throws {
        guard let model else { throw InputError.invalidInput("--model is required (or --trace to check a concept graph)") }
        let methodList = methods?.items ?? [.integratedGradients, .ggig, .gradientTimesInput, .srd]
        // BatchNormalization stays a node of its own, so re-initialised convs keep the BN statistics.
        let m = try Model.load(path: model, threads: output.threads, foldBatchNorm: false)
        let settings = AttributionSettings(quadrature: try Quadrature(method: quadrature ?? .gaussLegendre, steps: steps ?? 50))
        let spec = try dataset.spec()
        let data = try AttributeCommand.loadImages(spec: spec, indices: indices?.items)
        let images = data.images, n = images.shape[0]
        let (height, width) = (images.shape[2], images.shape[3])
        let logits = try m.forward(images)[m.outputNames.first ?? ""] ?? Tensor(shape: [n, 0])
        let targets = try AttributeCommand.resolveTargets(target ?? "pred", logits: logits, labels: data.labels, classNames: data.classNames,
                                                          classCount: logits.count / max(1, n), count: n)
        let baselines = Tensor(shape: [1] + Array(images.shape.dropFirst()))
        let check = MapSanityCheck(model: m, methods: methodList, settings: settings)
        for method in methodList { _ = try method.attributor(model: m, settings: settings) }

        let (variantList, accepted, tried) = try variants(of: m, checks: checkList, images: images, targets: targets)
        let work = methodList.count * (1 + variantList.count)
        var progress = ProgressReporter(label: "sanity", total: work, unit: "map sets", quiet: output.quiet)
        var originals = [AttributionMethod: [[Float]]]()
        for method in methodList {
            originals[method] = try check.maps(model: m, method: method, images: images, targets: targets, baselines: baselines)
            progress.advance()
        }
        var comparisons = [MapSanityCheck.Comparison]()
        var cascadeMaps = [AttributionMethod: [[[Float]]]]()   // method → stage → image → map
        for (number, variant) in variantList.enumerated() {
            let changed = try make(variant, number: number, original: model)
            for method in methodList {
                let maps = try check.maps(model: changed, method: method, images: images, targets: targets, baselines: baselines)
                if variant.check == "cascading" { cascadeMaps[method, default: []].append(maps) }
                for i in 0..<n {
                    let (sa, ss, ssim, hog) = MapSanityCheck.compare(originals[method]?[i] ?? [], maps[i], height: height, width: width)
                    comparisons.append(.init(check: variant.check, stage: variant.label, method: method.rawValue, image: i,
                                             spearmanAbsolute: sa, spearmanSigned: ss, ssim: ssim, hogSpearman: hog))
                }
                progress.advance()
            }
        }
        progress.finish(quietSummary: true)
        try writeModelIndex(variantList)

        let summary = SanityReport.summarize(comparisons, methods: methodList)
        let table = SanityReport.table(summary)
        try AtomicFile.write(Data(table.utf8), to: "\(output.out)/sanity.txt")
        let report = SanityReport(format: "gigtrace-sanity", version: 1, model: model, images: n, targets: targets, seed: seed,
                                  sigma: checkList.contains(.perturbation) ? Double(sigma) : nil,
                                  perturbation: checkList.contains(.perturbation) ? .init(accepted: accepted, tried: tried) : nil,
                                  methods: SanityReport.verdicts(summary, methods: methodList),
                                  summary: summary, comparisons: comparisons)
        try AtomicFile.write(try report.json(), to: "\(output.out)/sanity.json")
        if checkList.contains(.cascading) {
            try SanityFigure.write(originals: originals, cascade: cascadeMaps, methods: methodList, images: n, height: height, width: width,
                                   style: render ?? .absolute, to: "\(output.out)/cascading.png")
        }
        if !output.quiet {
            ProgressReporter.writeStderr(table)
            warnIfFewPerturbed(accepted, tried: tried, checks: checkList)
            ProgressReporter.writeStderr("wrote \(output.out)/sanity.json, sanity.txt\(checkList.contains(.cascading) ? ", cascading.png" : "")\n")
        }
    }

    /// The checks on a trace's concept graph (METHOD §7, graph metrics).
    func checkGraph(trace: String, checks checkList: [SanityCheckKind]) throws {
        let source = try TraceSource.open(trace, modelPath: model, dataPath: dataset.data)
        // BatchNormalization stays a node of its own, so re-initialised convs keep the BN statistics.
        let m = try source.loadModel(threads: output.threads, foldBatchNorm: false)
        let check = try GraphSanityCheck(source: source, model: m, images: images, batchSize: dataset.batchSize)
        let sample = try check.allImages()
        let n = sample.shape[0]
        let predicted = try MapSanityCheck.predictions(m, images: sample, targets: Array(repeating: 0, count: n)).map(\.predicted)
        // A graph aggregates its images: the mean target probability may not fall (METHOD §7).
        let (variantList, accepted, tried) = try variants(of: m, checks: checkList, images: sample, targets: predicted, filter: .meanOverImages)
        var progress = ProgressReporter(label: "sanity", total: n * (1 + variantList.count), unit: "images", quiet: output.quiet)
        func retrace(_ model: Model) throws -> ConceptGraph {
            let before = progress.done
            return try check.graph(of: model) { done in progress.advance(to: before + done) }
        }
        let original = try retrace(m)
        var rows = [GraphSanityCheck.Comparison]()
        for (number, variant) in variantList.enumerated() {
            let graph = try retrace(try make(variant, number: number, original: source.modelPath))
            rows += GraphSanityCheck.compare(original, graph, topK: topK, check: variant.check, stage: variant.label)
        }
        progress.finish(quietSummary: true)
        try writeModelIndex(variantList)
        let report = GraphSanityReport(model: source.modelPath, trace: trace, imageIndices: check.imageIndices, seed: seed, topK: topK,
                                       sigma: checkList.contains(.perturbation) ? Double(sigma) : nil,
                                       perturbation: checkList.contains(.perturbation) ? .init(accepted: accepted, tried: tried) : nil,
                                       rows: rows)
        let table = report.table()
        try AtomicFile.write(Data(table.utf8), to: "\(output.out)/sanity.txt")
        try AtomicFile.write(try report.json(), to: "\(output.out)/sanity.json")
        if !output.quiet {
            ProgressReporter.writeStderr(table)
            warnIfFewPerturbed(accepted, tried: tried, checks: checkList)
            ProgressReporter.writeStderr("wrote \(output.out)/sanity.json, sanity.txt\n")
        }
    }
}

/// One randomized or perturbed model of a sanity run: its check, its label (the layer for
/// randomization, "model k" for perturbation) and how to make it.
struct SanityVariant {
    var check: String
    var label: String
    var make: () throws -> Model
}
