import CNN
import Concepts
import Core
import PFV

/// Pathway ablation (METHOD §8): remove one concept per traced layer — a class's pathway — in one
/// forward pass and read the logits.
///
/// A row starts at the first traced layer's activation X₀ of one image. At every traced layer l the
/// activation that reaches it (already changed by the earlier removals) is coded with the layer's
/// bank, u = code(X_l), and the pathway's concept q_l is taken out: X_l − v_{q_l} u_{·,q_l} (its
/// codes set to 0; every other concept, PCA's mean and the error E = X − X̃ stay). The next traced
/// layer (or the logits, after the last) is computed from that by the model's sub-network. A row
/// whose pathway is `nil` at a layer passes it unchanged, so a row with no pathway gives the real
/// logits.
///
/// ```swift
/// let ablation = try PathwayAblation(layers: zip(banks, geometries).map { .init(bank: $0, geometry: $1) },
///                                    networks: subnetworks)   // layer 0 → 1, …, last → logits
/// let logits = try ablation.logits(first: x0, pathways: [[3, 7, 1], [0, 2, 5]])   // one row per pathway
/// ```
public struct PathwayAblation: Sendable {
    /// One traced layer: its bank and geometry.
    public struct Layer: Sendable {
        public var bank: ConceptBank
        public var geometry: LayerGeometry
        public init(bank: ConceptBank, geometry: LayerGeometry) {
            self.bank = bank
            self.geometry = geometry
        }
    }

    public let layers: [Layer]
    /// `networks[l]`: traced layer l → traced layer l + 1; the last: last traced layer → logits.
    public let networks: [Subnetwork]
    /// CPU threads for coding the layers.
    public var threads = 1
    /// Rows per forward batch (memory knob).
    public var chunkRows = 256

    public init(layers: [Layer], networks: [Subnetwork]) throws {
        guard !layers.isEmpty, networks.count == layers.count else {
            throw TraceError.invalidRequest("internal: pathway ablation needs one sub-network per traced layer")
        }
        for (l, layer) in layers.enumerated() {
            guard networks[l].from == layer.geometry.name, l == 0 || networks[l - 1].to == layer.geometry.name,
                  layer.bank.channels == layer.geometry.channels else {
                throw TraceError.shapeMismatch("pathway ablation: layer '\(layer.geometry.name)' does not fit its bank or sub-networks")
            }
        }
        self.layers = layers
        self.networks = networks
    }

    /// The logits of every row (rows × classes, row-major): row i is image `images[i]` of `first`
    /// (the first traced layer, [N, C, H, W]) with concept `pathways[i][l]` removed at layer l.
    public func logits(first: Tensor, images: [Int], pathways: [[Int?]]) throws -> [Float] {
        let g0 = layers[0].geometry, size = g0.channels * g0.positions
        guard first.rank == 4, first.count == first.shape[0] * size, images.count == pathways.count,
              images.allSatisfy({ $0 >= 0 && $0 < first.shape[0] }) else {
            throw TraceError.shapeMismatch("pathway ablation: \(first.shape) or the row list does not fit layer '\(g0.name)'")
        }
        for path in pathways {
            guard path.count == layers.count,
                  zip(path, layers).allSatisfy({ q, layer in q.map { $0 >= 0 && $0 < layer.bank.k } ?? true }) else {
                throw TraceError.invalidRequest("internal: a pathway needs one concept (or nil) per traced layer")
            }
        }
        var out = [Float]()
        var start = 0
        while start < images.count {
            let rows = start..<min(start + max(1, chunkRows), images.count)
            var x = [Float](repeating: 0, count: rows.count * size)
            for (i, n) in images[rows].enumerated() {
                x.replaceSubrange((i * size)..<((i + 1) * size), with: first.data[(n * size)..<((n + 1) * size)])
            }
            var value = Tensor(uncheckedShape: [rows.count, g0.channels, g0.height, g0.width], data: x)
            for l in layers.indices {
                value = try remove(layer: l, from: value, concepts: pathways[rows].map { $0[l] })
                value = try networks[l].forward(value).output
            }
            out += value.data
            start = rows.upperBound
        }
        return out
    }

    /// X − v_q u_{·,q} for each row's concept q (rows with nil unchanged); u codes X with the bank.
    func remove(layer l: Int, from x: Tensor, concepts: [Int?]) throws -> Tensor {
        guard concepts.contains(where: { $0 != nil }) else { return x }
        let g = layers[l].geometry, bank = layers[l].bank
        let codes = try bank.encode(activations: x, geometry: g, threads: threads)
        let c = g.channels, p = g.positions, k = bank.k
        var y = x
        for (n, concept) in concepts.enumerated() {
            guard let q = concept else { continue }
            for ch in 0..<c {
                let v = bank.concepts.data[q * c + ch]
                guard v != 0 else { continue }
                for pos in 0..<p {
                    y.data[(n * c + ch) * p + pos] -= v * codes.data[(n * p + pos) * k + q]
                }
            }
        }
        return y
    }
}
