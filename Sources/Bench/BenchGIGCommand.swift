import ArgumentParser
import CNN
import CommandLineSupport
import Concepts
import Core
import Datasets
import Foundation
import GIGTrace
import PFV

/// `gigtrace bench-gig` (hidden): the per-image GIG of `gigtrace trace` (consecutive traced layers,
/// and every traced layer to the classes), for measuring (METHOD §4, issue #6):
/// - completeness (several quadratures or step counts): a Markdown table on stdout of the median and
///   worst relative completeness error per image as `trace` reports it, and the median of each GIG
///   computation (layer i → i+1, layer i → classes) on its own;
/// - speed (one quadrature and step count): images/s of `BatchTracer.trace` (forward, coding, all
///   GIG, exemplar candidates; data loading excluded), and with `--edges-out DIR` each image's edges
///   and codes as .npy for the PyTorch + Captum peer (tools/bench_gig_captum.py).
struct BenchGIGCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gig",
        abstract: "Measure GIG completeness and speed over a dataset with given concept banks (benchmark helper).")

    @Option(help: "The ONNX model file.")
    var model: String

    @OptionGroup var dataset: DatasetOptions

    @Option(help: "Traced layers in forward order, comma-separated tensor names.")
    var layers: CommaSeparated<String>

    @Option(help: "Concept bank JSON files, comma-separated, one per traced layer in the same order.")
    var conceptBank: CommaSeparated<String>

    @Option(help: "Quadratures, comma-separated Captum names (gausslegendre, riemann_left, riemann_right, riemann_middle, riemann_trapezoid).")
    var quadrature = CommaSeparated<Quadrature.Method>([.gaussLegendre])

    @Option(help: "Integration steps, comma-separated; every quadrature runs with every count.")
    var steps = CommaSeparated<Int>([TraceConfiguration.defaultSteps])

    @OptionGroup var execution: ExecutionOptions

    @Option(help: "Speed mode: write edges_<j>.npy [N, sources, targets] per GIG computation j (layer pairs, then layers → classes) and codes_<l>.npy [N, P, K] per layer l here.")
    var edgesOut: String?

    @Option(help: "Differentiation of the GIG integrand: auto (forward mode where an image has fewer sources than active targets), reverse or forward.")
    var gigMode: GIGComputation.Mode = .auto


    func run() throws {
        try reportingErrors {
            let mode = gigMode
            let net = try Model.load(path: model, threads: execution.threads)
            let names = layers.items
            let bankFiles = conceptBank.items
            guard names.count >= 1, bankFiles.count == names.count else {
                throw InputError.invalidInput("--concept-bank needs one file per layer: \(names.count) layers, \(bankFiles.count) files")
            }
            let geometries = try names.map { try LayerGeometry(model: net, layer: $0) }
            let banks = try zip(names, bankFiles).enumerated().map { i, pair in
                try ConceptBank.read(from: pair.1, layer: pair.0, channels: geometries[i].channels)
            }
            let configs = try quadrature.items.flatMap { method in
                try steps.items.map { try Quadrature(method: method, steps: $0) }
            }
            let loader = try dataset.makeLoader()
            if configs.count == 1 {
                try speed(net: net, geometries: geometries, banks: banks, quadrature: configs[0], mode: mode, loader: loader)
            } else {
                guard edgesOut == nil else {
                    throw InputError.invalidInput("--edges-out needs exactly one quadrature and one step count, got \(configs.count) combinations")
                }
                try completeness(net: net, geometries: geometries, banks: banks, configs: configs, loader: loader)
            }
        }
    }

    /// Times `BatchTracer.trace` batch by batch; prints images/s and the completeness summary.
    func speed(net: Model, geometries: [LayerGeometry], banks: [ConceptBank], quadrature: Quadrature, mode: GIGComputation.Mode,
               loader: DatasetLoader) throws {
        let tracer = try BatchTracer(model: net, layers: geometries, banks: banks, quadrature: quadrature, mode: mode)
        let stream = loader.stream(prefetchThreads: dataset.prefetchThreads)
        var progress = ProgressReporter(label: "bench-gig", total: loader.indices.count, quiet: execution.quiet)
        var edges = [[Float]](repeating: [], count: 2 * geometries.count - 1)
        var shapes = [(Int, Int)](repeating: (0, 0), count: edges.count)
        var codes = [[Float]](repeating: [], count: geometries.count)
        var errors = [Double]()
        var seconds = 0.0
        let clock = ContinuousClock()
        while let batch = try stream.next() {
            let start = clock.now
            let traces = try tracer.trace(batch)
            seconds += Self.seconds(clock.now - start)
            progress.advance(by: traces.count)
            errors += traces.map(\.completenessError)
            guard edgesOut != nil else { continue }
            for t in traces {
                for (j, m) in (t.layerEdges + t.classEdges).enumerated() {
                    edges[j] += m.values
                    shapes[j] = (m.rows, m.columns)
                }
            }
            // Codes for the peer, outside the timed region (a second forward pass).
            let values = try net.forward(batch.images, keep: Set(geometries.map(\.name)))
            for (l, g) in geometries.enumerated() {
                guard let x = values[g.name] else { throw ModelError.unknownTensor(g.name, available: net.tensorNames) }
                codes[l] += try banks[l].encode(activations: x, geometry: g).data
            }
        }
        progress.finish(quietSummary: true)
        guard !errors.isEmpty else { throw InputError.invalidInput("no images in the dataset selection") }
        print(String(format: "bench-gig: %d images, %.3f s, %.2f images/s (%d threads; %@ %d steps; forward + coding + GIG + exemplar candidates, data loading excluded)",
                     errors.count, seconds, Double(errors.count) / seconds, execution.threads, quadrature.method.rawValue, quadrature.steps))
        print("completeness error per image: median \(Self.percent(Statistics.median(errors))), worst \(Self.percent(errors.max() ?? 0))")
        if let dir = edgesOut {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            for j in edges.indices {
                try Npy.write(Tensor(shape: [errors.count, shapes[j].0, shapes[j].1], data: edges[j]), to: "\(dir)/edges_\(j).npy")
            }
            for (l, g) in geometries.enumerated() {
                try Npy.write(Tensor(shape: [errors.count, g.positions, banks[l].k], data: codes[l]), to: "\(dir)/codes_\(l).npy")
            }
        }
    }

    /// For every configuration: each GIG computation's completeness error per image, and the image's
    /// error as `trace` reports it (Σ over computations of error·Σ|Δg| / Σ Σ|Δg|).
    func completeness(net: Model, geometries: [LayerGeometry], banks: [ConceptBank], configs: [Quadrature], loader: DatasetLoader) throws {
        let names = geometries.map(\.name)
        let logitsName = net.outputNames.first ?? ""
        let classes = net.tensorShapes[logitsName]?.last ?? 0
        // Computations in the order of ImageTrace: layer i → i+1, then layer i → classes.
        let computations: [(source: Int, target: Int?)] = names.indices.dropLast().map { ($0, $0 + 1) } + names.indices.map { ($0, nil) }
        let gigs: [[GIGComputation]] = try configs.map { q in
            let set = try GIGComputations(model: net, layers: names, banks: banks, output: logitsName, classes: classes,
                                          quadrature: q, mode: .auto)
            return set.layers + set.classes
        }
        let stream = loader.stream(prefetchThreads: dataset.prefetchThreads)
        var progress = ProgressReporter(label: "bench-gig completeness", total: loader.indices.count, quiet: execution.quiet)
        var perComputation = [[[Double]]](repeating: [[Double]](repeating: [], count: computations.count), count: configs.count)
        var perImage = [[Double]](repeating: [], count: configs.count)
        while let batch = try stream.next() {
            let n = batch.images.shape[0]
            let values = try net.forward(batch.images, keep: Set(names))
            let codes = try geometries.indices.map { l -> [Float] in
                guard let x = values[names[l]] else { throw ModelError.unknownTensor(names[l], available: net.tensorNames) }
                return try banks[l].encode(activations: x, geometry: geometries[l]).data
            }
            for image in 0..<n {
                let imageCodes = geometries.indices.map { l -> [Float] in
                    let size = geometries[l].positions * banks[l].k
                    return Array(codes[l][(image * size)..<((image + 1) * size)])
                }
                for c in configs.indices {
                    var missing = 0.0, scale = 0.0
                    for (j, comp) in computations.enumerated() {
                        let targetName = comp.target.map { names[$0] } ?? logitsName
                        guard let t = values[targetName] else { throw ModelError.unknownTensor(targetName, available: net.tensorNames) }
                        let real = try t.slice(batch: image..<(image + 1)).reshaped(Array(t.shape.dropFirst()))
                        let r = try gigs[c][j].compute(sourceCodes: imageCodes[comp.source], realTarget: real,
                                                       targetCodes: comp.target.map { imageCodes[$0] })
                        perComputation[c][j].append(r.completenessError)
                        let s = r.delta.reduce(0) { $0 + abs($1) }
                        missing += r.completenessError * s
                        scale += s
                    }
                    perImage[c].append(scale > 0 ? missing / scale : 0)
                }
            }
            progress.advance(by: n)
        }
        progress.finish(quietSummary: true)
        let labels = computations.map { "\($0.source)→" + ($0.target.map(String.init) ?? "classes") }
        print("| method | steps | median | worst | " + labels.map { "median \($0)" }.joined(separator: " | ") + " |")
        print("|---|---:|---:|---:|" + String(repeating: "---:|", count: labels.count))
        for (c, q) in configs.enumerated() {
            print("| \(q.method.rawValue) | \(q.steps) | \(Self.percent(Statistics.median(perImage[c]))) | \(Self.percent(perImage[c].max() ?? 0)) | "
                  + perComputation[c].map { Self.percent(Statistics.median($0)) }.joined(separator: " | ") + " |")
        }
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }

    static func percent(_ x: Double) -> String { String(format: "%.2f %%", 100 * x) }
}
