/// Short names for traced layers, for labels in the atlas and the graph exports: the first
/// component of the tensor name (`/stage2/relu/Relu_output_0` → `stage2`), or the first two when
/// the first is shared (`/layer4/layer4.0/…` → `layer4/layer4.0`), or `L<level>` when that is still
/// ambiguous or empty. The full tensor name stays in tooltips and attributes.
///
///     let aliases = LayerAliases(layout: reader.layout)
///     aliases.node(layer: 1, index: 7)   // "stage2:7"
public struct LayerAliases: Sendable, Equatable {
    public let layers: [String]
    let layout: TraceLayout

    public init(layout: TraceLayout) {
        self.layout = layout
        let parts = layout.layers.map { $0.name.split { $0 == "/" }.map(String.init) }
        func candidate(_ l: Int, depth: Int) -> String {
            parts[l].prefix(depth).joined(separator: "/")
        }
        var names: [String] = []
        for l in parts.indices {
            var chosen = "L\(l)"
            for depth in 1...2 {
                let name = candidate(l, depth: depth)
                let clash = parts.indices.contains { $0 != l && candidate($0, depth: depth) == name }
                if !name.isEmpty, !clash, depth <= parts[l].count { chosen = name; break }
            }
            names.append(chosen)
        }
        // A full name that happens to equal another layer's alias would read ambiguously: fall back.
        for l in names.indices where names.firstIndex(of: names[l]) != l { names[l] = "L\(l)" }
        layers = names
    }

    /// `alias:index`, `alias:mean` for a PCA mean node, or `alias:error` for the error node (as
    /// `TraceLayout.nodeName` names them with the full tensor name).
    public func node(layer: Int, index: Int) -> String {
        let l = layout.layers[layer]
        if index == l.errorIndex { return "\(layers[layer]):error" }
        return "\(layers[layer]):" + (l.hasMeanNode && index == l.conceptCount ? "mean" : "\(index)")
    }
}
