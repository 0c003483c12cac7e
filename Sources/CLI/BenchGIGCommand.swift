import ArgumentParser
import Foundation
import GIGTrace

/// `gigtrace bench-gig` (hidden): per-image GIG over consecutive traced layers and to the classes,
/// as `trace` computes it, for measuring (METHOD §4, issue #6):
/// - completeness: the median and worst relative completeness error for every quadrature × steps
///   (a Markdown table on stdout);
/// - speed: images/s of forward + coding + GIG (data loading excluded), with `--edges-out DIR`
///   writing each image's edges and codes as .npy for the PyTorch + Captum peer
///   (tools/bench_gig_captum.py) to compare against.
struct BenchGIGCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-gig",
        abstract: "Measure GIG completeness and speed over a dataset with given concept banks (benchmark helper).",
        shouldDisplay: false)

    @Option(help: "The ONNX model file.")
    var model: String

    @OptionGroup var dataset: DatasetOptions

    @Option(help: "Traced layers in forward order, comma-separated tensor names.")
    var layers: String

    @Option(help: "Concept bank JSON files, comma-separated, one per traced layer in the same order.")
    var conceptBank: String

    @Option(help: "Quadratures, comma-separated Captum names (gausslegendre, riemann_left, riemann_right, riemann_middle, riemann_trapezoid).")
    var quadrature: String = "gausslegendre"

    @Option(help: "Integration steps, comma-separated; every quadrature runs with every count.")
    var steps: String = "16"

    @Option(help: "Total CPU threads (OpenBLAS threads × engine threads).")
    var threads: Int = 2

    @Option(help: "Write edges_<i>.npy [N, sources, targets] per layer pair i and codes_<j>.npy [N, P, K] per layer j here (one quadrature and step count only).")
    var edgesOut: String?

    @Flag(help: "No progress output on stderr.")
    var quiet = false

    func run() throws {
        try reportingErrors {
            guard threads >= 1 else { throw CNNError.invalidInput("--threads must be at least 1, got \(threads)") }
            let net = try Model.load(path: model, threads: threads)
            let names = layers.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
            let bankFiles = conceptBank.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
            guard names.count >= 1, bankFiles.count == names.count else {
                throw CNNError.invalidInput("--concept-bank needs one file per layer: \(names.count) layers, \(bankFiles.count) files")
            }
            let geometries = try names.map { try LayerGeometry(model: net, layer: $0) }
            let banks = try zip(names, bankFiles).enumerated().map { i, pair in
                try ConceptBank.read(from: pair.1, layer: pair.0, channels: geometries[i].channels)
            }
            let bases = try banks.map { try ConceptBasis(bank: $0) }
            let configs = try Self.parseList(quadrature, flag: "--quadrature") { Quadrature.Method(rawValue: $0) }
                .flatMap { method in
                    try Self.parseList(steps, flag: "--steps") { Int($0) }.map { try Quadrature(method: method, steps: $0) }
                }
            if edgesOut != nil && configs.count != 1 {
                throw CNNError.invalidInput("--edges-out needs exactly one quadrature and one step count, got \(configs.count) combinations")
            }
            let logitsName = net.outputNames.first ?? ""
            let classes = net.tensorShapes[logitsName]?.last ?? 0
            // GIG per configuration and layer pair: layer i → layer i+1, the last layer → the classes.
            let gigs: [[GIGRelevance]] = try configs.map { q in
                try names.indices.map { i in
                    i + 1 < names.count
                        ? try GIGRelevance(subnetwork: net.subnetwork(from: names[i], to: names[i + 1]), source: bases[i],
                                           target: .concepts(bases[i + 1]), quadrature: q)
                        : try GIGRelevance(subnetwork: net.subnetwork(from: names[i], to: logitsName), source: bases[i],
                                           target: .classes(count: classes), quadrature: q)
                }
            }

            let loader = try dataset.makeLoader()
            let stream = loader.stream(prefetchThreads: dataset.prefetchThreads)
            var progress = ProgressReporter(label: "bench-gig", total: loader.indices.count, quiet: quiet)
            var errors = [[[Double]]](repeating: [[Double]](repeating: [], count: names.count), count: configs.count)
            var edges = [[Float]](repeating: [], count: names.count)
            var codesOut = [[Float]](repeating: [], count: names.count)
            var seconds = 0.0, images = 0
            let clock = ContinuousClock()
            while let batch = try stream.next() {
                let start = clock.now
                let n = batch.images.shape[0]
                let values = try net.forward(batch.images, keep: Set(names))
                let codes: [[Float]] = try names.indices.map { i in
                    guard let x = values[names[i]] else { throw CNNError.unknownTensor(names[i], available: net.tensorNames) }
                    return try banks[i].encode(activations: x).data
                }
                guard let logits = values[logitsName] else { throw CNNError.unknownTensor(logitsName, available: net.tensorNames) }
                for image in 0..<n {
                    let perImage = names.indices.map { i -> [Float] in
                        let size = geometries[i].positions * banks[i].k
                        return Array(codes[i][(image * size)..<((image + 1) * size)])
                    }
                    for (c, row) in gigs.enumerated() {
                        for i in names.indices {
                            let real = i + 1 < names.count
                                ? try Self.image(values[names[i + 1]], image, name: names[i + 1], model: net)
                                : try Self.image(logits, image, name: logitsName, model: net)
                            let r = try row[i].compute(sourceCodes: perImage[i], realTarget: real,
                                                       targetCodes: i + 1 < names.count ? perImage[i + 1] : nil)
                            errors[c][i].append(r.completenessError)
                            if edgesOut != nil { edges[i] += r.relevance }
                        }
                    }
                    if edgesOut != nil { for i in names.indices { codesOut[i] += perImage[i] } }
                }
                let elapsed = clock.now - start
                seconds += Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
                images += n
                progress.advance(by: n)
            }
            progress.finish(quietSummary: true)
            guard images > 0 else { throw CNNError.invalidInput("no images in the dataset selection") }

            print(String(format: "bench-gig: %d images, %.3f s, %.2f images/s (%d threads; forward + coding + GIG, data loading excluded)",
                         images, seconds, Double(images) / seconds, threads))
            print("| method | steps | median | worst | " + names.indices.map { "median \(Self.pairName(names, $0))" }.joined(separator: " | ") + " |")
            print("|---|---:|---:|---:|" + String(repeating: "---:|", count: names.count))
            for (c, q) in configs.enumerated() {
                let pooled = errors[c].flatMap { $0 }
                let perPair = errors[c].map { Self.percent(Self.median($0)) }
                print("| \(q.method.rawValue) | \(q.steps) | \(Self.percent(Self.median(pooled))) | \(Self.percent(pooled.max() ?? 0)) | "
                      + perPair.joined(separator: " | ") + " |")
            }
            if let dir = edgesOut {
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                for i in names.indices {
                    let targets = i + 1 < names.count ? banks[i + 1].k : classes
                    try Npy.write(Tensor(shape: [images, bases[i].sourceCount, targets], data: edges[i]),
                                  to: "\(dir)/edges_\(i).npy")
                    try Npy.write(Tensor(shape: [images, geometries[i].positions, banks[i].k], data: codesOut[i]),
                                  to: "\(dir)/codes_\(i).npy")
                }
            }
        }
    }

    /// Image `n` of a batched tensor, without its batch axis.
    static func image(_ t: Tensor?, _ n: Int, name: String, model: Model) throws -> Tensor {
        guard let t else { throw CNNError.unknownTensor(name, available: model.tensorNames) }
        return try t.slice(batch: n..<(n + 1)).reshaped(Array(t.shape.dropFirst()))
    }

    static func parseList<T>(_ text: String, flag: String, _ parse: (String) -> T?) throws -> [T] {
        let items = text.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
        guard !items.isEmpty else { throw CNNError.invalidInput("\(flag) is empty") }
        return try items.map {
            guard let v = parse($0) else { throw CNNError.invalidInput("\(flag): '\($0)' is not valid") }
            return v
        }
    }

    static func pairName(_ names: [String], _ i: Int) -> String {
        "\(i)→" + (i + 1 < names.count ? "\(i + 1)" : "classes")
    }

    static func median(_ v: [Double]) -> Double {
        guard !v.isEmpty else { return 0 }
        let s = v.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    static func percent(_ x: Double) -> String { String(format: "%.2f %%", 100 * x) }
}
