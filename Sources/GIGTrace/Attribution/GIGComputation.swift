import CNN
import COpenBLAS
import Concepts
import Core

/// Generalized Integrated Gradients for one image between the concepts of traced layer a and the
/// targets at tensor b (METHOD §4): the concepts of the next traced layer, or the classes.
///
///   GIG(q → r) = Σ_p u_{p,q} · ∫₀¹ ⟨∇_{X_p} g_r(F_ab(α X̃)), v^a_q⟩ dα
///
/// The path starts at zero in layer-a space and ends at X̃, layer a rebuilt from its codes, or, with
/// the error node (`errorNode`), at the real X with ε (direction E = X − X̃) as one more source. All
/// active targets of the image go through one backward pass per chunk of integration steps, as a
/// block of cotangents, so the work is large GEMMs.
public struct GIGComputation: Sendable {
    /// What the relevance flows into.
    public enum Target: Sendable {
        /// Concepts of the next traced layer; g_r(Y) = Σ_p m_{p,r}⟨Y_p, v_r⟩.
        case concepts(ConceptBank)
        /// The logits; g_c = logit c. All classes are targets.
        case classes(count: Int)
    }

    /// How g_r weighs the positions of layer b.
    public enum TargetMask: String, Sendable, Codable, CaseIterable {
        /// m_{p,r} = 1 where the real layer-b PFV's code for r is active (METHOD's default).
        case masked
        /// m_{p,r} = 1 everywhere (`--target sum`).
        case sum
    }

    public let subnetwork: Subnetwork
    /// The concept bank of layer a: its K concepts, then the PCA mean (code 1), are the sources.
    public let source: ConceptBank
    /// Whether the path ends at the real X with the error node ε (direction E = X − X̃, code 1) as
    /// the last source (METHOD §4). Off: the path ends at X̃.
    public let errorNode: Bool
    public let target: Target
    public let quadrature: Quadrature
    public let mask: TargetMask
    /// Upper bound on floats held by one chunk of steps × targets (or sources) × layer-a size (memory knob).
    public var chunkElements: Int = 1 << 23
    /// Reverse or forward mode for the path integral (METHOD §4); `.auto` takes the fewer passes.
    /// The coefficient target always runs forward mode (its cotangent changes along the path).
    public var mode: Mode = .auto
    /// Concept targets: the projection ⟨Y_p, v_r⟩ or r's code u_{p,r}(Y_p) (`CoefficientTarget`;
    /// needs the `.masked` mask, whose active sets it solves on).
    public var conceptTarget: ConceptTarget = .projection
    /// The λ of the target bank's codes on their support (relative to ‖y‖; `ConceptBank.supportLambda`:
    /// 0 for debiased codes), used by the coefficient target.
    public var targetLambda: Float = 0

    /// How the integrand is differentiated. Both give the same relevance up to rounding.
    public enum Mode: String, Sendable, Codable, CaseIterable {
        /// Forward mode when the image has fewer sources than active targets, else reverse.
        case auto
        /// One cotangent per (step, active target) pulled back from b to a.
        case reverse
        /// One tangent per (step, source), the source's own contribution to X̃, pushed from a to b.
        case forward
    }

    public init(subnetwork: Subnetwork, source: ConceptBank, errorNode: Bool = false, target: Target, quadrature: Quadrature,
                mask: TargetMask = .masked, mode: Mode = .auto) throws {
        guard let shapeA = subnetwork.model.tensorShapes[subnetwork.from], shapeA.count == 3 else {
            throw TraceError.invalidRequest("GIG source '\(subnetwork.from)' is not a C×H×W tensor")
        }
        guard shapeA[0] == source.channels else {
            throw TraceError.shapeMismatch("concept bank of '\(subnetwork.from)' has \(source.channels) channels, the layer has \(shapeA[0])")
        }
        if case .concepts(let bank) = target {
            guard let shapeB = subnetwork.model.tensorShapes[subnetwork.to], shapeB.count == 3, shapeB[0] == bank.channels else {
                throw TraceError.shapeMismatch("concept bank of '\(subnetwork.to)' does not match that layer's channels")
            }
        }
        self.subnetwork = subnetwork
        self.source = source
        self.errorNode = errorNode
        self.target = target
        self.quadrature = quadrature
        self.mask = mask
        self.mode = mode
    }

    /// Source nodes: the K concepts, then the mean when the bank has one, then the error node.
    public var sourceCount: Int { source.gigSourceCount(errorNode: errorNode) }

    /// Index of the error node among the sources, nil without one.
    public var errorIndex: Int? { errorNode ? sourceCount - 1 : nil }

    /// One image's relevance matrix and its checks.
    public struct Result: Sendable {
        /// Source nodes (K_a concepts, then the mean if any) × targets, row-major: A[q·T + r].
        public var relevance: [Float]
        public var sourceCount: Int
        public var targetCount: Int
        /// Which targets were active in this image (all of them for classes or `--target sum`).
        public var activeTargets: [Bool]
        /// Δg_r = g_r(F(end)) − g_r(F(0)) per target (0 for inactive ones); the path's end is X̃,
        /// or the real X with the error node.
        public var delta: [Double]
        /// g_r(F(X)) − g_r(F(0)) with the real X per target (0 for inactive ones): what the
        /// sources' relevance should add up to for end-to-end completeness (METHOD §8).
        public var realDelta: [Double]
        /// Σ_r |Σ_q A(q→r) − Δg_r| / Σ_r |Δg_r| (0 when no target is active).
        public var completenessError: Double
        /// Σ_r |g_r(F(X)) − g_r(F(X̃))| / Σ_r |g_r(F(X))|: how much the lossy codes change b.
        public var reconstructionGap: Double
    }

    /// Computes GIG for one image.
    /// - Parameters:
    ///   - sourceCodes: P_a×K_a codes of layer a (row-major, position p = h·W + w).
    ///   - realTarget: the real tensor b of this image from the full forward pass (C_b×H_b×W_b, or
    ///     the logits), used for the mask's reference and the reconstruction gap.
    ///   - targetCodes: P_b×K_b codes of the real layer b (required for concept targets with `.masked`).
    ///   - sourceActivation: the real layer a (C×P, as the layer is laid out); required with the error node.
    public func compute(sourceCodes: [Float], realTarget: Tensor, targetCodes: [Float]?,
                        sourceActivation: [Float]? = nil) throws -> Result {
        let prepared = try prepare(sourceCodes: sourceCodes, realTarget: realTarget, targetCodes: targetCodes,
                                   sourceActivation: sourceActivation)
        guard prepared.t > 0 else { return prepared.result }
        if mode == .forward || (mode == .auto && sourceCount < prepared.t) || prepared.coefficient != nil {
            let sums = try forwardModeSums(prepared, collecting: [],
                                           normals: prepared.coefficient == nil ? nil : (subnetwork.to, prepared.stepDirections))
            return finish(prepared, forwardSums: sums[subnetwork.to] ?? [], directionSums: sums.directionSums)
        }
        return finish(prepared, relevance: try reverseModeRelevance(prepared))
    }

    /// GIG from one source layer to the next traced layer's concepts (`toNext`) and to the classes
    /// (`toClasses`, from the same layer with the same bank and quadrature) in one forward-mode
    /// sweep: the two share the path α X̃, so one tangent per (step, source) pushed through to the
    /// logits yields both, read at the next layer on the way.
    public static func computeJointly(toNext: GIGComputation, toClasses: GIGComputation, sourceCodes: [Float],
                                      realNext: Tensor, nextCodes: [Float]?, realLogits: Tensor,
                                      sourceActivation: [Float]? = nil) throws -> (next: Result, classes: Result) {
        guard toNext.subnetwork.from == toClasses.subnetwork.from, toNext.source == toClasses.source, toNext.errorNode == toClasses.errorNode,
              toNext.quadrature == toClasses.quadrature, case .classes = toClasses.target,
              toClasses.subnetwork.nodeIndices.contains(where: { toClasses.subnetwork.model.nodes[$0].output == toNext.subnetwork.to }) else {
            throw TraceError.invalidRequest("internal: joint GIG needs both computations from '\(toNext.subnetwork.from)' on one path")
        }
        let next = try toNext.prepare(sourceCodes: sourceCodes, realTarget: realNext, targetCodes: nextCodes,
                                      sourceActivation: sourceActivation)
        let classes = try toClasses.prepare(sourceCodes: sourceCodes, realTarget: realLogits, targetCodes: nil,
                                            sourceActivation: sourceActivation)
        let sums = try toClasses.forwardModeSums(classes, collecting: [toNext.subnetwork.to],
                                                 normals: next.coefficient == nil ? nil : (toNext.subnetwork.to, next.stepDirections))
        return (toNext.finish(next, forwardSums: sums[toNext.subnetwork.to] ?? [], directionSums: sums.directionSums),
                toClasses.finish(classes, forwardSums: sums[toClasses.subnetwork.to] ?? []))
    }

    /// What both modes start from for one image: the active targets' cotangent block, X̃ and the
    /// end-point values of g.
    struct Prepared {
        var result: Result
        let sourceCodes: [Float]
        let shapeA: [Int]
        let targetSize: Int
        let block: (cotangents: [Float], active: [Bool])
        let targets: [Int]
        var t: Int { targets.count }
        /// The path's end: X̃, or the real X with the error node.
        let reconstruction: [Float]
        /// E = X − X̃ with the error node, else empty.
        let errorDirection: [Float]
        let gAtRecon: [Double], gAtZero: [Double], gAtReal: [Double]
        /// The coefficient target (nil for projections and classes) and, per integration step,
        /// the unit directions Y_p/‖Y_p‖ of F(α_k · end) (steps × C_b·P_b) its norm term needs.
        var coefficient: CoefficientTarget? = nil
        var stepDirections: [Float] = []
    }

    func prepare(sourceCodes: [Float], realTarget: Tensor, targetCodes: [Float]?,
                 sourceActivation: [Float]? = nil) throws -> Prepared {
        let shapeA = subnetwork.model.tensorShapes[subnetwork.from] ?? []
        let (channelsA, positionsA) = (shapeA[0], shapeA[1] * shapeA[2])
        let k = source.k
        guard sourceCodes.count == positionsA * k else {
            throw TraceError.shapeMismatch("\(sourceCodes.count) codes for \(positionsA) positions × \(k) concepts of '\(subnetwork.from)'")
        }
        let targetSize = realTarget.count
        let coefficient = try coefficientTarget(realTarget: realTarget, targetCodes: targetCodes)
        let block = try coefficient.map { (cotangents: $0.linear, active: activeFlags($0)) }
            ?? targetBlock(realTarget: realTarget, targetCodes: targetCodes)
        let targets = block.active.indices.filter { block.active[$0] }
        let t = targets.count
        let sources = sourceCount
        let result = Result(relevance: [Float](repeating: 0, count: sources * block.active.count), sourceCount: sources,
                            targetCount: block.active.count, activeTargets: block.active,
                            delta: [Double](repeating: 0, count: block.active.count),
                            realDelta: [Double](repeating: 0, count: block.active.count), completenessError: 0, reconstructionGap: 0)
        if errorNode {
            guard let x = sourceActivation, x.count == channelsA * positionsA else {
                throw TraceError.shapeMismatch("the error node of '\(subnetwork.from)' needs the real layer (\(channelsA * positionsA) values), got \(sourceActivation?.count ?? 0)")
            }
        }
        guard t > 0 else {
            return Prepared(result: result, sourceCodes: sourceCodes, shapeA: shapeA, targetSize: targetSize, block: block,
                            targets: [], reconstruction: [], errorDirection: [], gAtRecon: [], gAtZero: [], gAtReal: [])
        }

        // X̃ = Vᵀ Uᵀ (+ mean), laid out C×P like the layer itself.
        var reconstruction = [Float](repeating: 0, count: channelsA * positionsA)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasTrans, Int32(channelsA), Int32(positionsA), Int32(k), 1,
                    source.concepts.data, Int32(channelsA), sourceCodes, Int32(k), 0, &reconstruction, Int32(positionsA))
        if let mean = source.mean {
            for c in 0..<channelsA { for p in 0..<positionsA { reconstruction[c * positionsA + p] += mean[c] } }
        }

        // End points: g_r at F(X̃), F(0) and the real F(X).
        let ends = try subnetwork.forward(Tensor(uncheckedShape: [2] + shapeA,
                                                 data: reconstruction + [Float](repeating: 0, count: reconstruction.count)))
        // With the error node the path ends at the real X and E = X − X̃ is one more source.
        var pathEnd = reconstruction, errorDirection = [Float]()
        if errorNode, let x = sourceActivation {
            errorDirection = zip(x, reconstruction).map { $0 - $1 }
            pathEnd = x
        }
        guard let coefficient else {
            return Prepared(result: result, sourceCodes: sourceCodes, shapeA: shapeA, targetSize: targetSize, block: block,
                            targets: targets, reconstruction: pathEnd, errorDirection: errorDirection,
                            gAtRecon: dots(block.cotangents, t, targetSize, ends.output.data, offset: 0),
                            gAtZero: dots(block.cotangents, t, targetSize, ends.output.data, offset: targetSize),
                            gAtReal: dots(block.cotangents, t, targetSize, realTarget.data, offset: 0))
        }
        return Prepared(result: result, sourceCodes: sourceCodes, shapeA: shapeA, targetSize: targetSize, block: block,
                        targets: targets, reconstruction: pathEnd, errorDirection: errorDirection,
                        gAtRecon: coefficient.values(ends.output.data, offset: 0),
                        gAtZero: coefficient.values(ends.output.data, offset: targetSize),
                        gAtReal: coefficient.values(realTarget.data, offset: 0),
                        coefficient: coefficient, stepDirections: try stepDirections(pathEnd, coefficient))
    }

    /// The coefficient target of concept targets under `.coefficient` (nil otherwise).
    func coefficientTarget(realTarget: Tensor, targetCodes: [Float]?) throws -> CoefficientTarget? {
        guard conceptTarget == .coefficient, case .concepts(let bank) = target else { return nil }
        guard mask == .masked else {
            throw TraceError.invalidRequest("the coefficient target needs the masked target (its active sets come from the real layer's codes)")
        }
        let positions = realTarget.count / bank.channels
        guard let codes = targetCodes, codes.count == positions * bank.k else {
            throw TraceError.shapeMismatch("target codes for '\(subnetwork.to)' must be \(positions)×\(bank.k)")
        }
        return try CoefficientTarget(bank: bank, lambda: targetLambda, codes: codes, positions: positions)
    }

    func activeFlags(_ c: CoefficientTarget) -> [Bool] {
        guard case .concepts(let bank) = target else { return [] }
        var active = [Bool](repeating: false, count: bank.k)
        for r in c.targets { active[r] = true }
        return active
    }

    /// Y_p/‖Y_p‖ of Y = F(α_k · end) at every quadrature point α_k (steps × size of b), for the
    /// coefficient target's norm term.
    func stepDirections(_ end: [Float], _ c: CoefficientTarget) throws -> [Float] {
        let shapeA = subnetwork.model.tensorShapes[subnetwork.from] ?? []
        let sizeA = end.count, sizeB = c.channels * c.positions
        var out = [Float]()
        out.reserveCapacity(quadrature.steps * sizeB)
        let stepsPerChunk = max(1, min(quadrature.steps, chunkElements / max(1, max(sizeA, sizeB))))
        var first = 0
        while first < quadrature.steps {
            let steps = first..<min(first + stepsPerChunk, quadrature.steps)
            let input = pathPoints(end, steps: steps)
            let y = try subnetwork.forward(Tensor(uncheckedShape: [steps.count] + shapeA, data: input)).output.data
            for i in steps.indices.map({ $0 - first }) {
                out += CoefficientTarget.unitDirections(y, offset: i * sizeB, channels: c.channels, positions: c.positions)
            }
            first = steps.upperBound
        }
        return out
    }

    /// α_k · end for each step k of `steps`, one after the other (the path's points, batched).
    func pathPoints(_ end: [Float], steps: Range<Int>) -> [Float] {
        let size = end.count
        return Buffers.make(steps.count * size) { out in
            for (i, step) in steps.enumerated() {
                let alpha = Float(quadrature.alphas[step])
                for j in 0..<size { out[i * size + j] = alpha * end[j] }
            }
        }
    }

    /// Reverse mode: A(q→r) = Σ_p u_{p,q} (V G_r)_{q,p} with G_r = Σ_k w_k ∇_X g_r(F(α_k X̃)),
    /// sources × active targets, row-major.
    func reverseModeRelevance(_ prepared: Prepared) throws -> [Float] {
        let (shapeA, targetSize, t) = (prepared.shapeA, prepared.targetSize, prepared.t)
        let (channelsA, positionsA) = (shapeA[0], shapeA[1] * shapeA[2])
        let (k, sources) = (source.k, sourceCount)
        let (reconstruction, sourceCodes, block) = (prepared.reconstruction, prepared.sourceCodes, prepared.block)
        var relevance = [Float](repeating: 0, count: sources * t)
        // G_r = Σ_k w_k ∇_X g_r(F(α_k X̃)), T×(C·P), accumulated chunk by chunk of steps; the engine
        // pulls the block of T cotangents back through every step of a chunk and sums over them.
        let sizeA = channelsA * positionsA
        let targetShape = subnetwork.model.tensorShapes[subnetwork.to] ?? [targetSize]
        let cotangents = Tensor(uncheckedShape: [t] + targetShape, data: block.cotangents)
        var gradient = [Float]()
        let stepsPerChunk = max(1, min(quadrature.steps, chunkElements / max(1, t * max(sizeA, targetSize))))
        var first = 0
        while first < quadrature.steps {
            let steps = first..<min(first + stepsPerChunk, quadrature.steps)
            let input = pathPoints(reconstruction, steps: steps)
            let tape = try subnetwork.forward(Tensor(uncheckedShape: [steps.count] + shapeA, data: input))
            let pulled = try subnetwork.backwardSum(tape, block: cotangents, weights: steps.map { Float(quadrature.weights[$0]) })
            if gradient.isEmpty {
                gradient = pulled.data
            } else {
                cblas_saxpy(Int32(t * sizeA), 1, pulled.data, 1, &gradient, 1)
            }
            first = steps.upperBound
        }

        // A(q→r) = Σ_p u_{p,q} (V G_r)_{q,p}; the mean source: Σ_{c,p} mean_c G_r[c,p].
        var projected = [Float](repeating: 0, count: k * positionsA)
        for i in 0..<t {
            gradient.withUnsafeBufferPointer { g in
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(k), Int32(positionsA), Int32(channelsA), 1,
                            source.concepts.data, Int32(channelsA), g.baseAddress! + i * sizeA, Int32(positionsA), 0, &projected, Int32(positionsA))
            }
            sourceCodes.withUnsafeBufferPointer { u in
                projected.withUnsafeBufferPointer { m in
                    for q in 0..<k {
                        relevance[q * t + i] =
                            cblas_sdot(Int32(positionsA), u.baseAddress! + q, Int32(k), m.baseAddress! + q * positionsA, 1)
                    }
                }
            }
            if let mean = source.mean {
                var total: Float = 0
                for c in 0..<channelsA {
                    var s: Float = 0
                    for p in 0..<positionsA { s += gradient[i * sizeA + c * positionsA + p] }
                    total += mean[c] * s
                }
                relevance[k * t + i] = total
            }
            if let e = errorIndex, prepared.errorDirection.count == sizeA {
                // A(ε→r) = ⟨E, G_r⟩.
                relevance[e * t + i] = gradient.withUnsafeBufferPointer { g in
                    cblas_sdot(Int32(sizeA), prepared.errorDirection, 1, g.baseAddress! + i * sizeA, 1)
                }
            }
        }
        return relevance
    }

    /// Forward mode's result: A(q→r) = ⟨S_q, cot_r⟩ for the active targets, one GEMM; for the
    /// coefficient target minus its norm term Σ_p β_{p,r} D_{q,p} (`directionSums` D, sources × P_b).
    func finish(_ prepared: Prepared, forwardSums sums: [Float], directionSums: [Float] = []) -> Result {
        let (sources, t, size) = (sourceCount, prepared.t, prepared.targetSize)
        var edges = [Float](repeating: 0, count: sources * t)
        if sums.count == sources * size {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(sources), Int32(t), Int32(size), 1,
                        sums, Int32(size), prepared.block.cotangents, Int32(size), 0, &edges, Int32(t))
        }
        if let c = prepared.coefficient, directionSums.count == sources * c.positions {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(sources), Int32(t), Int32(c.positions), -1,
                        directionSums, Int32(c.positions), c.normWeights, Int32(c.positions), 1, &edges, Int32(t))
        }
        return finish(prepared, relevance: edges)
    }

    /// The result from the relevance of the active targets (sources × T, row-major), with Δg,
    /// the completeness error and the reconstruction gap (METHOD §4).
    func finish(_ prepared: Prepared, relevance: [Float]) -> Result {
        var result = prepared.result
        let (sources, t, targets) = (result.sourceCount, prepared.t, prepared.targets)
        let (gAtRecon, gAtZero, gAtReal) = (prepared.gAtRecon, prepared.gAtZero, prepared.gAtReal)
        for q in 0..<sources {
            for (i, r) in targets.enumerated() { result.relevance[q * result.targetCount + r] = relevance[q * t + i] }
        }
        var missing = 0.0, scale = 0.0, gap = 0.0, gapScale = 0.0
        for (i, r) in targets.enumerated() {
            let delta = (errorNode ? gAtReal[i] : gAtRecon[i]) - gAtZero[i]
            result.delta[r] = delta
            result.realDelta[r] = gAtReal[i] - gAtZero[i]
            var sum = 0.0
            for q in 0..<sources { sum += Double(result.relevance[q * result.targetCount + r]) }
            missing += abs(sum - delta)
            scale += abs(delta)
            gap += abs(gAtReal[i] - gAtRecon[i])
            gapScale += abs(gAtReal[i])
        }
        result.completenessError = scale > 0 ? missing / scale : (missing > 0 ? Double.infinity : 0)
        result.reconstructionGap = gapScale > 0 ? gap / gapScale : 0
        return result
    }

    /// Forward mode: S_q = Σ_k w_k J_F(α_k X̃)·X̃_q for every source q (`sourceCount` × size,
    /// row-major) at b and at each tensor in `names` inside the subnetwork, where X̃_q is source
    /// q's share of X̃: v_q u_{p,q} at each position p, the mean (if any) at every position, and E
    /// for the error node.
    /// The tangents of one chunk of steps go through one sweep. With `normals` (a tensor in the
    /// subnetwork and per step its unit directions n_k, steps × size) also the coefficient target's
    /// D_{q,p} = Σ_k w_k ⟨n_{k,p}, S_{k,q,p}⟩ (sources × positions of that tensor).
    func forwardModeSums(_ prepared: Prepared, collecting names: Set<String>,
                         normals: (name: String, perStep: [Float])? = nil) throws -> ForwardSums {
        let shapeA = prepared.shapeA, sourceCodes = prepared.sourceCodes
        let (channels, positions) = (shapeA[0], shapeA[1] * shapeA[2])
        let sizeA = channels * positions, k = source.k, d = sourceCount
        var directions = [Float](repeating: 0, count: d * sizeA)
        for q in 0..<k {
            for c in 0..<channels {
                let v = source.concepts.data[q * channels + c], row = q * sizeA + c * positions
                for p in 0..<positions { directions[row + p] = v * sourceCodes[p * k + q] }
            }
        }
        if let mean = source.mean {
            for c in 0..<channels { for p in 0..<positions { directions[k * sizeA + c * positions + p] = mean[c] } }
        }
        if let e = errorIndex, prepared.errorDirection.count == sizeA {
            for j in 0..<sizeA { directions[e * sizeA + j] = prepared.errorDirection[j] }
        }
        let wanted = names.union([subnetwork.to])
        let sizes = try wanted.map { name -> (String, Int) in
            guard let shape = subnetwork.model.tensorShapes[name] else {
                throw ModelError.unknownTensor(name, available: subnetwork.model.tensorNames)
            }
            return (name, shape.reduce(1, *))
        }
        var sums = [String: [Float]]()
        for (name, size) in sizes { sums[name] = [Float](repeating: 0, count: d * size) }
        let normalChannels = normals.flatMap { subnetwork.model.tensorShapes[$0.name]?.first } ?? 1
        var directionSums = [Float]()
        let largest = sizes.map(\.1).max() ?? 1
        let stepsPerChunk = max(1, min(quadrature.steps, chunkElements / max(1, d * max(sizeA, largest))))
        var first = 0
        while first < quadrature.steps {
            let steps = Array(first..<min(first + stepsPerChunk, quadrature.steps))
            var input = [Float](repeating: 0, count: steps.count * sizeA)
            var tangents = [Float]()
            tangents.reserveCapacity(steps.count * d * sizeA)
            for (i, step) in steps.enumerated() {
                let alpha = Float(quadrature.alphas[step])
                for j in 0..<sizeA { input[i * sizeA + j] = alpha * prepared.reconstruction[j] }
                tangents.append(contentsOf: directions)
            }
            let tape = try subnetwork.forward(Tensor(uncheckedShape: [steps.count] + shapeA, data: input))
            let pushed = try subnetwork.jvp(tape, tangents: Tensor(uncheckedShape: [steps.count * d] + shapeA, data: tangents),
                                            collecting: names)
            if let normals, let out = pushed[normals.name] {
                let size = out.count / max(1, steps.count * d), positions = size / normalChannels
                if directionSums.isEmpty { directionSums = [Float](repeating: 0, count: d * positions) }
                for (i, step) in steps.enumerated() {
                    let w = Float(quadrature.weights[step])
                    for q in 0..<d {
                        let row = (i * d + q) * size
                        for j in 0..<size {
                            directionSums[q * positions + j % positions] += w * normals.perStep[step * size + j] * out.data[row + j]
                        }
                    }
                }
            }
            // sums += Σ_i w_i · pushed[i], pushed viewed as [steps, d·size].
            let weights = steps.map { Float(quadrature.weights[$0]) }
            for (name, size) in sizes {
                guard let out = pushed[name], out.count == steps.count * d * size else {
                    throw TraceError.invalidRequest("internal: forward mode gave no tangent at '\(name)'")
                }
                sums[name]?.withUnsafeMutableBufferPointer { acc in
                    cblas_sgemv(CblasRowMajor, CblasTrans, Int32(steps.count), Int32(d * size), 1, out.data, Int32(d * size),
                                weights, 1, 1, acc.baseAddress, 1)
                }
            }
            first += steps.count
        }
        return ForwardSums(byTensor: sums, directionSums: directionSums)
    }

    /// What forward mode accumulates: S_q per collected tensor, and the coefficient target's D.
    struct ForwardSums {
        var byTensor: [String: [Float]]
        var directionSums: [Float]
        subscript(name: String) -> [Float]? { byTensor[name] }
    }

    /// The cotangent of g_r at b for every active target r, T×size row-major, and the active flags.
    func targetBlock(realTarget: Tensor, targetCodes: [Float]?) throws -> (cotangents: [Float], active: [Bool]) {
        let size = realTarget.count
        switch target {
        case .classes(let count):
            guard size == count else {
                throw TraceError.shapeMismatch("logits of '\(subnetwork.to)' have \(size) values, expected \(count) classes")
            }
            var block = [Float](repeating: 0, count: count * count)
            for c in 0..<count { block[c * count + c] = 1 }
            return (block, [Bool](repeating: true, count: count))
        case .concepts(let bank):
            let positions = size / bank.channels
            var maskValues = [Float](repeating: 1, count: positions * bank.k)
            var active = [Bool](repeating: true, count: bank.k)
            if mask == .masked {
                guard let codes = targetCodes, codes.count == positions * bank.k else {
                    throw TraceError.shapeMismatch("target codes for '\(subnetwork.to)' must be \(positions)×\(bank.k)")
                }
                active = [Bool](repeating: false, count: bank.k)
                for p in 0..<positions {
                    for r in 0..<bank.k {
                        let on = bank.isActive(codes[p * bank.k + r])
                        maskValues[p * bank.k + r] = on ? 1 : 0
                        if on { active[r] = true }
                    }
                }
            }
            let targets = active.indices.filter { active[$0] }
            var block = [Float](repeating: 0, count: targets.count * size)
            for (i, r) in targets.enumerated() {
                for c in 0..<bank.channels {
                    let v = bank.concepts.data[r * bank.channels + c]
                    for p in 0..<positions { block[i * size + c * positions + p] = v * maskValues[p * bank.k + r] }
                }
            }
            return (block, active)
        }
    }

    /// ⟨block_i, y[offset..<offset+size]⟩ for each of the T rows, in double precision.
    func dots(_ block: [Float], _ t: Int, _ size: Int, _ y: [Float], offset: Int) -> [Double] {
        (0..<t).map { i in
            var s = 0.0
            for j in 0..<size { s += Double(block[i * size + j]) * Double(y[offset + j]) }
            return s
        }
    }
}

extension ConceptBank {
    /// Number of GIG source nodes for this bank (METHOD §4): the K concepts, then the mean when
    /// there is one (PCA), then the error node ε when `errorNode`.
    public func gigSourceCount(errorNode: Bool) -> Int { k + (mean == nil ? 0 : 1) + (errorNode ? 1 : 0) }
}
