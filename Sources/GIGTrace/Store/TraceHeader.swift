import CNN
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
    public var banks: [ConceptBank]

    public init(model: ModelIdentity, preprocessingJSON: String, settings: RunSettings, banks: [ConceptBank]) {
        self.model = model
        self.preprocessingJSON = preprocessingJSON
        self.settings = settings
        self.banks = banks
    }

    /// The graph's shape implied by the banks and class names.
    public var layout: TraceLayout {
        TraceLayout(
            layers: banks.map { TraceLayout.Layer(name: $0.layer, conceptCount: $0.k, hasMeanNode: $0.mean != nil,
                                                  hasErrorNode: settings.errorNode) },
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

    /// Whether the trace's GIG has an error node per layer (METHOD §4), stored in `extra["errorNode"]`.
    public var errorNode: Bool { extra["errorNode"] == "true" }
    /// What the trace's layer l → l+1 edges flow into (METHOD §4), stored in `extra["conceptTarget"]`
    /// when it is not the projection; nil for a value this build does not know.
    public var conceptTarget: ConceptTarget? { extra["conceptTarget"].map { ConceptTarget(rawValue: $0) } ?? .projection }
    /// How the trace's banks code PFVs (METHOD §3), stored in `extra["coding"]` when it is not the
    /// Lasso (traces made before the option read as `.lasso`); nil for a value this build does not know.
    public var coding: ConceptBank.Coding? { extra["coding"].map { ConceptBank.Coding(rawValue: $0) } ?? .lasso }

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

/// The part of a bank's quality report (METHOD §3) a trace stores: reconstruction R², mean
/// nonzeros per PFV, and the share of PFVs each concept is active in.
struct StoredBankQuality: Sendable, Equatable, Codable {
    var r2: Double
    var meanNonzeros: Double
    var activeShare: [Double]

    init(r2: Double, meanNonzeros: Double, activeShare: [Double]) {
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
        /// Whether the error node ε (METHOD §4) is a source, after the concepts and the mean.
        public var hasErrorNode: Bool

        public init(name: String, conceptCount: Int, hasMeanNode: Bool, hasErrorNode: Bool = false) {
            self.name = name
            self.conceptCount = conceptCount
            self.hasMeanNode = hasMeanNode
            self.hasErrorNode = hasErrorNode
        }

        /// Source nodes: the K concepts, the mean node when present (index K), the error node last.
        public var sourceCount: Int { conceptCount + (hasMeanNode ? 1 : 0) + (hasErrorNode ? 1 : 0) }

        /// Index of the error node, nil without one.
        public var errorIndex: Int? { hasErrorNode ? sourceCount - 1 : nil }
    }

    public var layers: [Layer]
    public var classNames: [String]

    public init(layers: [Layer], classNames: [String]) {
        self.layers = layers
        self.classNames = classNames
    }

    public var classCount: Int { classNames.count }

    /// `layer:index`, `layer:mean` for a PCA mean node, or `layer:error` for the error node.
    public func nodeName(layer: Int, index: Int) -> String {
        let l = layers[layer]
        if index == l.errorIndex { return "\(l.name):error" }
        return l.hasMeanNode && index == l.conceptCount ? "\(l.name):mean" : "\(l.name):\(index)"
    }

    /// Resolves a class given by name or index; the error lists the valid names.
    public func classIndex(_ text: String) throws -> Int {
        if let i = classNames.firstIndex(of: text) { return i }
        if let i = Int(text), i >= 0, i < classCount { return i }
        throw TraceError.invalidRequest("unknown class '\(text)'; valid classes: "
            + classNames.enumerated().map { "\($0.offset)=\($0.element)" }.joined(separator: ", "))
    }

    /// Resolves a layer given by name or index.
    public func layerIndex(_ text: String) throws -> Int {
        if let i = layers.firstIndex(where: { $0.name == text }) { return i }
        if let i = Int(text), i >= 0, i < layers.count { return i }
        throw ModelError.unknownTensor(text, available: layers.map(\.name))
    }

    /// Parses `LAYER:INDEX` (layer by name or position; index a number or `mean`).
    public func node(_ text: String) throws -> (layer: Int, index: Int) {
        guard let colon = text.lastIndex(of: ":") else {
            throw TraceError.invalidRequest("concept '\(text)' should be LAYER:INDEX, e.g. \(layers.first?.name ?? "layer"):0")
        }
        let layer = try layerIndex(String(text[..<colon]))
        let rest = String(text[text.index(after: colon)...])
        let l = layers[layer]
        let index: Int
        if rest == "mean", l.hasMeanNode { index = l.conceptCount }
        else if rest == "error", let e = l.errorIndex { index = e }
        else if let i = Int(rest), i >= 0, i < l.sourceCount { index = i }
        else {
            throw TraceError.invalidRequest("concept '\(text)': layer \(l.name) has concepts 0..<\(l.conceptCount)"
                + (l.hasMeanNode ? " and mean" : "") + (l.hasErrorNode ? " and error" : ""))
        }
        return (layer, index)
    }
}
