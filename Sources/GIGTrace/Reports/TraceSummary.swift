import Core

/// `query summary`: model, dataset, layers with K and bank quality, completeness, settings.
public struct TraceSummary: Sendable, Equatable, Codable {
    public struct Layer: Sendable, Equatable, Codable {
        public var name: String
        public var method: String
        public var concepts: Int
        public var hasMeanNode: Bool
        public var r2: Double
        public var meanNonzeros: Double
    }

    public var modelSHA256: String
    public var modelPath: String
    public var inputShape: [Int]
    public var classNames: [String]
    public var datasetPath: String
    public var datasetCount: Int
    public var imagesTraced: Int
    public var complete: Bool
    public var layers: [Layer]
    /// Median and worst relative completeness error over the traced images (0 when none).
    public var completenessMedian: Double
    public var completenessWorst: Double
    public var reconstructionGapMedian: Double
    /// Per-layer end-to-end completeness, logit gap and error-node share (nil for traces made before
    /// schema v2, whose reconstruction gap is the older per-block mean).
    public var faithfulness: FaithfulnessSummary?
    public var settings: RunSettings

    public init(reader: TraceReader) throws {
        let h = reader.header
        let images = try reader.images()
        modelSHA256 = h.model.sha256
        modelPath = h.model.path
        inputShape = h.model.inputShape
        classNames = h.model.classNames
        datasetPath = h.settings.datasetPath
        datasetCount = h.settings.datasetCount
        imagesTraced = images.count
        complete = reader.complete
        layers = h.banks.map {
            Layer(name: $0.layer, method: $0.method.rawValue, concepts: $0.k, hasMeanNode: $0.mean != nil,
                  r2: $0.quality.r2, meanNonzeros: $0.quality.meanNonzeros)
        }
        completenessMedian = Statistics.median(images.map(\.completenessError))
        completenessWorst = images.map(\.completenessError).max() ?? 0
        reconstructionGapMedian = Statistics.median(images.map(\.reconstructionGap))
        faithfulness = FaithfulnessSummary(layout: reader.layout, rows: try reader.database.readImageLayers())
        settings = h.settings
    }

    public func table() -> String {
        // The coding (METHOD §3) is named on its own, also where the settings do not store it (Lasso).
        let coding = settings.coding?.rawValue ?? settings.extra["coding"] ?? ""
        let extra = settings.extra.filter { $0.key != "coding" }
        let out = """
            model        \(modelPath) (sha256 \(modelSHA256)), input \(inputShape.map(String.init).joined(separator: "×"))
            classes      \(classNames.count): \(classNames.prefix(20).joined(separator: ", "))\(classNames.count > 20 ? ", …" : "")
            dataset      \(datasetPath) (\(datasetCount) images)
            traced       \(imagesTraced) images\(complete ? "" : " (unfinished run)")
            completeness median \(TextTable.number(completenessMedian * 100, digits: 2)) %, worst \(TextTable.number(completenessWorst * 100, digits: 2)) %; reconstruction gap median \(TextTable.number(reconstructionGapMedian * 100, digits: 2)) %
            settings     \(settings.conceptMethod), \(coding) codes, \(settings.steps) steps \(settings.quadrature), seed \(settings.seed), shard \(settings.shardIndex)/\(settings.shardCount)\(extra.isEmpty ? "" : ", " + extra.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", "))

            """
        var t = TextTable(["layer", "method", "K", "mean node", "R²", "nonzeros/PFV"])
        for l in layers {
            t.add([l.name, l.method, "\(l.concepts)", l.hasMeanNode ? "yes" : "", TextTable.number(l.r2), TextTable.number(l.meanNonzeros)])
        }
        var faithful = ""
        if let f = faithfulness {
            faithful = "\nfaithfulness to the real model (METHOD §8):\n" + f.lines().joined(separator: "\n") + "\n"
        }
        return out + "\n" + t.render() + faithful
    }
}
