import CNN
import Core

/// The GIG computations of a trace on one model: traced layer l → l+1 concepts for each consecutive
/// pair, then each traced layer → the classes (METHOD §4–5).
struct GIGComputations: Sendable {
    /// Layer l → layer l+1, l = 0 ..< layers − 1.
    let layers: [GIGComputation]
    /// Layer l → the classes, l = 0 ..< layers.
    let classes: [GIGComputation]
    /// Per layer pair: run layer l → l+1 and layer l → classes as one forward-mode sweep
    /// (`GIGComputation.computeJointly`): when the sources are fewer than the targets of both.
    let joint: [Bool]
    /// Layer l → the classes through a tree-ensemble head: Generalized IG (METHOD §9) instead of
    /// `classes[l]`'s plain path integral, which sees none of the head's jumps; nil without trees.
    let generalized: [GeneralizedIntegratedGradients?]

    /// Throws when the traced layers (tensor names, forward order) do not run forward: each
    /// computed from the previous one alone, every path to `output` through each.
    init(model: Model, layers names: [String], bases: [ConceptBasis], output: String, classes count: Int,
         quadrature: Quadrature, mode: GIGComputation.Mode) throws {
        var pairs = [GIGComputation]()
        for l in 0..<(names.count - 1) {
            let (a, b) = (names[l], names[l + 1])
            let sub: Subnetwork
            do { sub = try model.subnetwork(from: a, to: b) } catch {
                throw CNNError.invalidInput("traced layers must run forward, each computed from the one before alone: "
                    + "'\(b)' cannot be computed from '\(a)' (\(error))")
            }
            pairs.append(try GIGComputation(subnetwork: sub, source: bases[l], target: .concepts(bases[l + 1]),
                                          quadrature: quadrature, mode: mode))
        }
        layers = pairs
        classes = try names.enumerated().map { l, name in
            let sub: Subnetwork
            do { sub = try model.subnetwork(from: name, to: output) } catch {
                throw CNNError.invalidInput("every path to '\(output)' must pass through traced layer '\(name)' (a block or stage output): \(error)")
            }
            return try GIGComputation(subnetwork: sub, source: bases[l], target: .classes(count: count),
                                    quadrature: quadrature, mode: mode)
        }
        generalized = try names.map { name in
            guard model.hasTreeEnsembles else { return nil }
            var gig = try GeneralizedIntegratedGradients(model: model, from: name, output: output)
            gig.quadrature = quadrature
            return gig.hasJumps ? gig : nil
        }
        let viaTrees = generalized
        joint = pairs.indices.map { l in
            viaTrees[l] == nil && (mode == .forward || (mode == .auto && bases[l].sourceCount < bases[l + 1].count + count))
        }
    }
}
