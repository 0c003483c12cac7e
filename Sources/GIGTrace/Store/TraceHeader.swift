import Concepts
import Core
import Datasets
import Foundation

/// What a trace database records about how it was made: model, preprocessing, settings, banks.
/// Two shards merge only when their headers agree except for `settings.shardIndex`.
public struct TraceHeader: Sendable, Equatable {
    public var model: ModelIdentity
    /// Preprocessing as the trace command describes it (a JSON object, stored verbatim).
    public var preprocessingJSON: String
    public var settings: RunSettings
    /// One bank per traced layer, in forward order.
    public var banks: [ConceptBankRecord]

    public init(model: ModelIdentity, preprocessingJSON: String, settings: RunSettings, banks: [ConceptBankRecord]) {
        self.model = model
        self.preprocessingJSON = preprocessingJSON
        self.settings = settings
        self.banks = banks
    }

    /// The graph's shape implied by the banks and class names.
    public var layout: TraceLayout {
        TraceLayout(
            layers: banks.map { TraceLayout.Layer(name: $0.layer, conceptCount: $0.conceptCount, hasMeanNode: $0.mean != nil) },
            classNames: model.classNames)
    }
}

/// Which model was traced: SHA-256 of the model file (hex), its path, input shape and class names.
public struct ModelIdentity: Sendable, Equatable, Codable {
    public var sha256: String
    public var path: String
    public var inputShape: [Int]
    public var classNames: [String]

    public init(sha256: String, path: String, inputShape: [Int], classNames: [String]) {
        self.sha256 = sha256
        self.path = path
        self.inputShape = inputShape
        self.classNames = classNames
    }
}

/// The trace command's settings, stored as JSON. `extra` holds settings this layer does not
/// interpret (they still must agree between shards).
public struct RunSettings: Sendable, Equatable, Codable {
    public var layers: [String]
    public var conceptMethod: String
    public var conceptsPerLayer: [Int]
    public var steps: Int
    public var quadrature: String
    public var seed: UInt64
    /// Shard I of N (0-based I); a whole run is 0 of 1.
    public var shardIndex: Int
    public var shardCount: Int
    public var datasetPath: String
    public var datasetCount: Int
    public var extra: [String: String]

    public init(layers: [String], conceptMethod: String, conceptsPerLayer: [Int], steps: Int, quadrature: String,
                seed: UInt64, shardIndex: Int = 0, shardCount: Int = 1, datasetPath: String, datasetCount: Int,
                extra: [String: String] = [:]) {
        self.layers = layers
        self.conceptMethod = conceptMethod
        self.conceptsPerLayer = conceptsPerLayer
        self.steps = steps
        self.quadrature = quadrature
        self.seed = seed
        self.shardIndex = shardIndex
        self.shardCount = shardCount
        self.datasetPath = datasetPath
        self.datasetCount = datasetCount
        self.extra = extra
    }

    /// Names of the settings that differ from `other`, ignoring the shard index.
    public func differences(from other: RunSettings) -> [String] {
        var names: [String] = []
        if layers != other.layers { names.append("layers") }
        if conceptMethod != other.conceptMethod { names.append("concept method") }
        if conceptsPerLayer != other.conceptsPerLayer { names.append("concepts per layer") }
        if steps != other.steps { names.append("steps") }
        if quadrature != other.quadrature { names.append("quadrature") }
        if seed != other.seed { names.append("seed") }
        if shardCount != other.shardCount { names.append("shard count") }
        if datasetPath != other.datasetPath { names.append("dataset path") }
        if datasetCount != other.datasetCount { names.append("dataset count") }
        for key in Set(extra.keys).union(other.extra.keys).sorted() where extra[key] != other.extra[key] {
            names.append(key)
        }
        return names
    }
}

/// A layer's concept bank as stored in the trace (METHOD §3): `vectors` is K × channels row-major
/// (unit rows); `mean` (channels) only for PCA, which adds the "mean" source node.
public struct ConceptBankRecord: Sendable, Equatable {
    public var layer: String
    public var method: String
    public var conceptCount: Int
    public var channels: Int
    public var lambda: Double
    public var vectors: [Float]
    public var mean: [Float]?
    public var quality: BankQuality

    public init(layer: String, method: String, conceptCount: Int, channels: Int, lambda: Double, vectors: [Float],
                mean: [Float]?, quality: BankQuality) {
        self.layer = layer
        self.method = method
        self.conceptCount = conceptCount
        self.channels = channels
        self.lambda = lambda
        self.vectors = vectors
        self.mean = mean
        self.quality = quality
    }
}

/// A bank's quality report (METHOD §3): reconstruction R², mean nonzeros per PFV, and the share
/// of PFVs each concept is active in.
public struct BankQuality: Sendable, Equatable, Codable {
    public var r2: Double
    public var meanNonzeros: Double
    public var activeShare: [Double]

    public init(r2: Double, meanNonzeros: Double, activeShare: [Double]) {
        self.r2 = r2
        self.meanNonzeros = meanNonzeros
        self.activeShare = activeShare
    }
}

/// The graph's shape: traced layers (name, K, whether a PCA mean node is a source) and classes.
public struct TraceLayout: Sendable, Equatable {
    public struct Layer: Sendable, Equatable {
        public var name: String
        public var conceptCount: Int
        public var hasMeanNode: Bool

        public init(name: String, conceptCount: Int, hasMeanNode: Bool) {
            self.name = name
            self.conceptCount = conceptCount
            self.hasMeanNode = hasMeanNode
        }

        /// Source nodes: the K concepts plus the mean node when present (index K).
        public var sourceCount: Int { conceptCount + (hasMeanNode ? 1 : 0) }
    }

    public var layers: [Layer]
    public var classNames: [String]

    public init(layers: [Layer], classNames: [String]) {
        self.layers = layers
        self.classNames = classNames
    }

    public var classCount: Int { classNames.count }

    /// `layer:index`, or `layer:mean` for a PCA mean node.
    public func nodeName(layer: Int, index: Int) -> String {
        let l = layers[layer]
        return l.hasMeanNode && index == l.conceptCount ? "\(l.name):mean" : "\(l.name):\(index)"
    }

    /// Resolves a class given by name or index; the error lists the valid names.
    public func classIndex(_ text: String) throws -> Int {
        if let i = classNames.firstIndex(of: text) { return i }
        if let i = Int(text), i >= 0, i < classCount { return i }
        throw CNNError.invalidInput("unknown class '\(text)'; valid classes: "
            + classNames.enumerated().map { "\($0.offset)=\($0.element)" }.joined(separator: ", "))
    }

    /// Resolves a layer given by name or index.
    public func layerIndex(_ text: String) throws -> Int {
        if let i = layers.firstIndex(where: { $0.name == text }) { return i }
        if let i = Int(text), i >= 0, i < layers.count { return i }
        throw CNNError.unknownTensor(text, available: layers.map(\.name))
    }

    /// Parses `LAYER:INDEX` (layer by name or position; index a number or `mean`).
    public func node(_ text: String) throws -> (layer: Int, index: Int) {
        guard let colon = text.lastIndex(of: ":") else {
            throw CNNError.invalidInput("concept '\(text)' should be LAYER:INDEX, e.g. \(layers.first?.name ?? "layer"):0")
        }
        let layer = try layerIndex(String(text[..<colon]))
        let rest = String(text[text.index(after: colon)...])
        let l = layers[layer]
        let index: Int
        if rest == "mean", l.hasMeanNode { index = l.conceptCount }
        else if let i = Int(rest), i >= 0, i < l.sourceCount { index = i }
        else {
            throw CNNError.invalidInput("concept '\(text)': layer \(l.name) has concepts 0..<\(l.conceptCount)"
                + (l.hasMeanNode ? " and mean" : ""))
        }
        return (layer, index)
    }
}
