import CNN
import Concepts
import Core

/// The GIG computations of a trace on one model: traced layer l → l+1 concepts for each consecutive
/// pair, then each traced layer → the classes (METHOD §4–5).
public struct GIGComputations: Sendable {
    /// Layer l → layer l+1, l = 0 ..< layers − 1.
    public let layers: [GIGComputation]
    /// Layer l → the classes, l = 0 ..< layers.
    public let classes: [GIGComputation]
    /// Per layer pair: run layer l → l+1 and layer l → classes as one forward-mode sweep
    /// (`GIGComputation.computeJointly`): when the sources are fewer than the targets of both.
    public let joint: [Bool]
    /// Layer l → the classes through a tree-ensemble head: Generalized IG (METHOD §9) instead of
    /// `classes[l]`'s plain path integral, which sees none of the head's jumps; nil without trees.
    let generalized: [GeneralizedIntegratedGradients?]

    /// Throws when the traced layers (tensor names, forward order) do not run forward: each
    /// computed from the previous one alone, every path to `output` through each. `banks[l]` is
    /// layer l's concept bank; `errorNode` adds the error node ε to every layer's sources;
    /// `conceptTarget` chooses what layer l → l+1 edges flow into (METHOD §4; `.coefficient` codes
    /// with each target bank's own λ, 0 for debiased codes: `ConceptBank.supportLambda`).
    public init(model: Model, layers names: [String], banks: [ConceptBank], errorNode: Bool = false, output: String,
                classes count: Int, quadrature: Quadrature, mode: GIGComputation.Mode,
                conceptTarget: ConceptTarget = .projection) throws {
        let (toNext, toClasses) = try Self.subnetworks(model: model, layers: names, output: output)
        layers = try toNext.enumerated().map { l, sub in
            var gig = try GIGComputation(subnetwork: sub, source: banks[l], errorNode: errorNode, target: .concepts(banks[l + 1]),
                                         quadrature: quadrature, mode: mode)
            gig.conceptTarget = conceptTarget
            gig.targetLambda = banks[l + 1].supportLambda
            return gig
        }
        classes = try toClasses.enumerated().map { l, sub in
            try GIGComputation(subnetwork: sub, source: banks[l], errorNode: errorNode, target: .classes(count: count),
                               quadrature: quadrature, mode: mode)
        }
        generalized = try names.map { name in
            guard model.hasTreeEnsembles else { return nil }
            var gig = try GeneralizedIntegratedGradients(model: model, from: name, output: output)
            gig.quadrature = quadrature
            return gig.hasJumps ? gig : nil
        }
        let viaTrees = generalized
        joint = toNext.indices.map { l in
            viaTrees[l] == nil && (mode == .forward || (mode == .auto && banks[l].gigSourceCount(errorNode: errorNode) < banks[l + 1].k + count)
                                   || conceptTarget == .coefficient)
        }
    }

    /// The subnetworks GIG differentiates: traced layer l → l+1, and each traced layer → `output`.
    /// This is where a trace's layer order is checked: each layer must be computed from the one
    /// before alone, and every path to the logits must pass through each.
    public static func subnetworks(model: Model, layers names: [String], output: String) throws
        -> (toNext: [Subnetwork], toClasses: [Subnetwork]) {
        let toNext = try zip(names, names.dropFirst()).map { a, b in
            do { return try model.subnetwork(from: a, to: b) } catch {
                throw TraceError.invalidSettings("traced layers must run forward, each computed from the one before alone: "
                    + "'\(b)' cannot be computed from '\(a)' (\(error))")
            }
        }
        let toClasses = try names.map { name in
            do { return try model.subnetwork(from: name, to: output) } catch {
                throw TraceError.invalidSettings("every path to '\(output)' must pass through traced layer '\(name)' (a block or stage output): \(error)")
            }
        }
        return (toNext, toClasses)
    }
}
