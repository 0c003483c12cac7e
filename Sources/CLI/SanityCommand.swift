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
/// checks of METHOD §7 for input attribution maps: a table, JSON (schemas/sanity.schema.json) and
/// the cascading-randomization figure as a PNG.
struct SanityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sanity",
        abstract: "Sanity checks for attribution maps: cascading/independent randomization and perturbation (docs/METHOD.md §7).",
        discussion: """
        Writes into --out: sanity.json (schemas/sanity.schema.json), sanity.txt (the table) and \
        cascading.png (rows: images × methods; columns: the original model, then the layers \
        re-initialised from the logits down). A method passes randomization when the mean Spearman \
        of absolute maps at the last cascading stage is below 0.5, perturbation when it is at least 0.9.
        """
    )

    @Option(help: "The ONNX model file.")
    var model: String

    @OptionGroup var dataset: DatasetOptions

    @Option(help: "Only these images, comma-separated positions in the selection.")
    var indices: CommaSeparated<Int>?

    @Option(help: "Comma-separated methods: \(SanityCommand.methodsChecked.map(\.rawValue).joined(separator: ", ")).")
    var methods = CommaSeparated<AttributionMethod>([.integratedGradients, .ggig, .gradientTimesInput, .srd])

    @Option(help: "Comma-separated checks: \(SanityCheckKind.allCases.map(\.rawValue).joined(separator: ", ")).")
    var checks = CommaSeparated<SanityCheckKind>([.cascading, .independent, .perturbation])

    @Option(help: "Logit to explain: pred, label, a class index, or a class name.")
    var target: String = "pred"

    @Option(help: "IG: Captum's n_steps.")
    var steps: Int = 50

    @Option(help: "IG: Captum's method.")
    var quadrature: Quadrature.Method = .gaussLegendre

    @Option(help: "Perturbation: noise standard deviation σ.")
    var sigma: Float = 1e-3

    @Option(help: "Perturbation: accepted models N.")
    var perturbedModels: Int = 20

    @Option(help: "Perturbation: candidate models tried at most (default 10·N).")
    var maxTries: Int?

    @Option(help: "Seed of the re-initialisations and the perturbation noise.")
    var seed: UInt64 = 0

    @Option(help: "PNG colours of the figure: signed or absolute.")
    var render: AttributionRendering.Style = .absolute

    @OptionGroup var output: MapOutputOptions

    /// The methods the randomization and perturbation checks apply to: all but Generalized IG,
    /// whose jumps come from tree ensembles (no weights to re-initialise or perturb) and which
    /// equals IG on models without them.
    static let methodsChecked = AttributionMethod.allCases.filter { $0 != .generalizedIG }

    func validate() throws {
        guard sigma > 0, sigma.isFinite else { throw ValidationError("--sigma must be positive, got \(sigma)") }
        guard perturbedModels > 0 else { throw ValidationError("--perturbed-models must be at least 1, got \(perturbedModels)") }
        if let m = methods.items.first(where: { !Self.methodsChecked.contains($0) }) {
            let choices = Self.methodsChecked.map(\.rawValue).joined(separator: ", ")
            throw ValidationError("--methods: \(m.rawValue) is not checked by sanity (its checks re-initialise and perturb weights, which tree ensembles do not have; without trees it is IG); choose from \(choices)")
        }
    }

    func run() throws {
        try reportingErrors { try compute() }
    }

    func compute() throws {
        let (methodList, checkList) = (methods.items, checks.items)
        try AttributeCommand.prepareFolder(output.out)
        // BatchNormalization stays a node of its own, so re-initialised convs keep the BN statistics.
        let m = try Model.load(path: model, threads: output.threads, foldBatchNorm: false)
        let settings = AttributionSettings(quadrature: try Quadrature(method: quadrature, steps: steps))
        let spec = try dataset.spec()
        let data = try AttributeCommand.loadImages(spec: spec, indices: indices?.items)
        let images = data.images, n = images.shape[0]
        let (height, width) = (images.shape[2], images.shape[3])
        let logits = try m.forward(images)[m.outputNames.first ?? ""] ?? Tensor(shape: [n, 0])
        let targets = try AttributeCommand.resolveTargets(target, logits: logits, labels: data.labels, classNames: data.classNames,
                                                          classCount: logits.count / max(1, n), count: n)
        let baselines = Tensor(shape: [1] + Array(images.shape.dropFirst()))
        let check = MapSanityCheck(model: m, methods: methodList, settings: settings)
        for method in methodList { _ = try method.attributor(model: m, settings: settings) }

        var rng = SamplingRNG(seed: seed)
        var stages = [MapSanityCheck.Stage]()
        if checkList.contains(.cascading) { stages += check.cascadingStages() }
        if checkList.contains(.independent) { stages += check.independentStages() }
        var perturbed = [Model]()
        var tried = 0
        if checkList.contains(.perturbation) {
            (perturbed, tried) = try check.perturbedModels(count: perturbedModels, sigma: sigma, images: images, targets: targets,
                                                           maxTries: maxTries ?? 10 * perturbedModels, rng: &rng)
        }
        let work = methodList.count * (1 + stages.count + perturbed.count)
        var progress = ProgressReporter(label: "sanity", total: work, unit: "map sets", quiet: output.quiet)
        var originals = [AttributionMethod: [[Float]]]()
        for method in methodList {
            originals[method] = try check.maps(model: m, method: method, images: images, targets: targets, baselines: baselines)
            progress.advance()
        }
        var comparisons = [MapSanityCheck.Comparison]()
        var cascadeMaps = [AttributionMethod: [[[Float]]]]()   // method → stage → image → map
        func record(_ checkName: String, _ label: String, _ model: Model) throws {
            for method in methodList {
                let maps = try check.maps(model: model, method: method, images: images, targets: targets, baselines: baselines)
                if checkName == "cascading" { cascadeMaps[method, default: []].append(maps) }
                for i in 0..<n {
                    let (sa, ss, ssim, hog) = MapSanityCheck.compare(originals[method]?[i] ?? [], maps[i], height: height, width: width)
                    comparisons.append(.init(check: checkName, stage: label, method: method.rawValue, image: i,
                                             spearmanAbsolute: sa, spearmanSigned: ss, ssim: ssim, hogSpearman: hog))
                }
                progress.advance()
            }
        }
        for stage in stages {
            var stageRNG = SamplingRNG(seed: seed &+ UInt64(stage.layers.count) &* 7919 &+ (stage.check == "cascading" ? 0 : 1))
            try record(stage.check, stage.label, try m.randomizing(stage.layers, rng: &stageRNG))
        }
        for (k, p) in perturbed.enumerated() { try record("perturbation", "model \(k)", p) }
        progress.finish(quietSummary: true)

        let summary = SanityReport.summarize(comparisons, methods: methodList)
        let table = SanityReport.table(summary)
        try AtomicFile.write(Data(table.utf8), to: "\(output.out)/sanity.txt")
        let report = SanityReport(format: "gigtrace-sanity", version: 1, model: model, images: n, targets: targets, seed: seed,
                                  sigma: checkList.contains(.perturbation) ? Double(sigma) : nil,
                                  perturbation: checkList.contains(.perturbation) ? .init(accepted: perturbed.count, tried: tried) : nil,
                                  methods: SanityReport.verdicts(summary, methods: methodList),
                                  summary: summary, comparisons: comparisons)
        try AtomicFile.write(try report.json(), to: "\(output.out)/sanity.json")
        if checkList.contains(.cascading) {
            try SanityFigure.write(originals: originals, cascade: cascadeMaps, methods: methodList, images: n, height: height, width: width,
                                   style: render, to: "\(output.out)/cascading.png")
        }
        if !output.quiet {
            ProgressReporter.writeStderr(table)
            if perturbed.count < perturbedModels && checkList.contains(.perturbation) {
                ProgressReporter.writeStderr("warning: only \(perturbed.count) of \(perturbedModels) perturbed models passed the filter in \(tried) tries\n")
            }
            ProgressReporter.writeStderr("wrote \(output.out)/sanity.json, sanity.txt\(checkList.contains(.cascading) ? ", cascading.png" : "")\n")
        }
    }
}
