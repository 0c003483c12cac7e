import Concepts
import PFV

/// Everything tracing one image produces (METHOD §4): the input of the concept graph's aggregates.
///
/// Layers are the traced layers L0..Lm-1 in forward order. "Sources" of layer l are its K_l
/// concepts, plus one "mean" node (index K_l) when the layer's bank is PCA. Matrices are
/// row-major sources × targets.
public struct ImageTrace: Sendable, Equatable {
    /// Index of the image in the dataset (unique within a run; shards must not overlap).
    public var index: Int
    /// True class and predicted class, each in 0..<C.
    public var label: Int
    public var prediction: Int
    /// GIG between consecutive layers: element l is sources(l) × K_{l+1} (m−1 matrices).
    public var layerEdges: [EdgeMatrix]
    /// For each consecutive pair l, which targets r of layer l+1 were active (K_{l+1} flags).
    public var targetActive: [[Bool]]
    /// Concept → class GIG for every layer l: sources(l) × C (all classes kept), m matrices.
    public var classEdges: [EdgeMatrix]
    /// Per layer: codes summed over positions, active positions and the strongest PFVs.
    public var layerCodes: [LayerCodes]
    /// Relative completeness error Σ_r|Σ_q A − Δg_r| / Σ_r|Δg_r| (METHOD §4).
    public var completenessError: Double
    /// Reconstruction gap Σ_r|g_r(F(X)) − g_r(F(X̃))| / Σ_r|g_r(F(X))| (METHOD §4).
    public var reconstructionGap: Double

    public init(index: Int, label: Int, prediction: Int, layerEdges: [EdgeMatrix], targetActive: [[Bool]],
                classEdges: [EdgeMatrix], layerCodes: [LayerCodes], completenessError: Double,
                reconstructionGap: Double) {
        self.index = index
        self.label = label
        self.prediction = prediction
        self.layerEdges = layerEdges
        self.targetActive = targetActive
        self.classEdges = classEdges
        self.layerCodes = layerCodes
        self.completenessError = completenessError
        self.reconstructionGap = reconstructionGap
    }
}

/// A dense row-major matrix of signed GIG values A[q → r]: `rows` sources × `columns` targets.
public struct EdgeMatrix: Sendable, Equatable {
    public var rows: Int
    public var columns: Int
    public var values: [Float]

    public init(rows: Int, columns: Int, values: [Float]) {
        self.rows = rows
        self.columns = columns
        self.values = values
    }

    public subscript(source: Int, target: Int) -> Float { values[source * columns + target] }

    /// Column `target` as a rows × 1 matrix.
    public func column(_ target: Int) -> EdgeMatrix {
        EdgeMatrix(rows: rows, columns: 1, values: (0..<rows).map { self[$0, target] })
    }
}

/// One layer's codes for one image: one entry per source node (K, or K+1 with the PCA mean).
public struct LayerCodes: Sendable, Equatable {
    /// Number of positions H·W of the layer.
    public var positionCount: Int
    /// Σ_p u_{p,q} per source node q.
    public var codeSums: [Float]
    /// Number of positions p where u_{p,q} is active (> 0, or ≠ 0 for PCA).
    public var activePositions: [Int]
    /// The image's strongest PFVs per source node (any number; the graph keeps the top N overall).
    public var topPFVs: [[ConceptExemplar]]

    public init(positionCount: Int, codeSums: [Float], activePositions: [Int], topPFVs: [[ConceptExemplar]]) {
        self.positionCount = positionCount
        self.codeSums = codeSums
        self.activePositions = activePositions
        self.topPFVs = topPFVs
    }
}

/// A PFV that strongly expresses a concept: image, position (h, w) in the layer, code value and
/// the exemplar patch box in input pixels (x0, y0 inclusive; x1, y1 exclusive).
public struct ConceptExemplar: Sendable, Equatable, Hashable, Codable {
    public var image: Int
    public var h: Int
    public var w: Int
    public var code: Float
    public var box: PatchBox

    public init(image: Int, h: Int, w: Int, code: Float, box: PatchBox) {
        self.image = image
        self.h = h
        self.w = w
        self.code = code
        self.box = box
    }

    /// Ranking used everywhere exemplars are kept: larger code first, then image, h, w ascending,
    /// so that the top N of a union does not depend on the order shards are merged.
    public static func ranksBefore(_ a: ConceptExemplar, _ b: ConceptExemplar) -> Bool {
        if a.code != b.code { return a.code > b.code }
        if a.image != b.image { return a.image < b.image }
        if a.h != b.h { return a.h < b.h }
        return a.w < b.w
    }
}
