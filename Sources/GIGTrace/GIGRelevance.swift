import COpenBLAS

/// Generalized Integrated Gradients for one image between the concepts of traced layer a and the
/// targets at tensor b (METHOD §4): the concepts of the next traced layer, or the classes.
///
///   GIG(q → r) = Σ_p u_{p,q} · ∫₀¹ ⟨∇_{X_p} g_r(F_ab(α X̃)), v^a_q⟩ dα
///
/// The path starts at zero in layer-a space and ends at X̃, layer a rebuilt from its codes. All
/// active targets of the image go through one backward pass per chunk of integration steps, as a
/// block of cotangents, so the work is large GEMMs.
public struct GIGRelevance: Sendable {
    /// What the relevance flows into.
    public enum Target: Sendable {
        /// Concepts of the next traced layer; g_r(Y) = Σ_p m_{p,r}⟨Y_p, v_r⟩.
        case concepts(ConceptBasis)
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
    public let source: ConceptBasis
    public let target: Target
    public let quadrature: Quadrature
    public let mask: TargetMask
    /// Upper bound on floats held by one chunk of steps × targets × layer-a size (memory knob).
    public var chunkElements: Int = 1 << 23

    public init(subnetwork: Subnetwork, source: ConceptBasis, target: Target, quadrature: Quadrature,
                mask: TargetMask = .masked) throws {
        guard let shapeA = subnetwork.model.tensorShapes[subnetwork.from], shapeA.count == 3 else {
            throw CNNError.invalidInput("GIG source '\(subnetwork.from)' is not a C×H×W tensor")
        }
        guard shapeA[0] == source.channels else {
            throw CNNError.shapeMismatch("concept basis of '\(subnetwork.from)' has \(source.channels) channels, the layer has \(shapeA[0])")
        }
        if case .concepts(let basis) = target {
            guard let shapeB = subnetwork.model.tensorShapes[subnetwork.to], shapeB.count == 3, shapeB[0] == basis.channels else {
                throw CNNError.shapeMismatch("concept basis of '\(subnetwork.to)' does not match that layer's channels")
            }
        }
        self.subnetwork = subnetwork
        self.source = source
        self.target = target
        self.quadrature = quadrature
        self.mask = mask
    }

    /// One image's relevance matrix and its checks.
    public struct Result: Sendable {
        /// Source nodes (K_a concepts, then the mean if any) × targets, row-major: A[q·T + r].
        public var relevance: [Float]
        public var sourceCount: Int
        public var targetCount: Int
        /// Which targets were active in this image (all of them for classes or `--target sum`).
        public var activeTargets: [Bool]
        /// Δg_r = g_r(F(X̃)) − g_r(F(0)) per target (0 for inactive ones).
        public var delta: [Double]
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
    public func compute(sourceCodes: [Float], realTarget: Tensor, targetCodes: [Float]?) throws -> Result {
        let shapeA = subnetwork.model.tensorShapes[subnetwork.from] ?? []
        let (channelsA, positionsA) = (shapeA[0], shapeA[1] * shapeA[2])
        let k = source.count
        guard sourceCodes.count == positionsA * k else {
            throw CNNError.shapeMismatch("\(sourceCodes.count) codes for \(positionsA) positions × \(k) concepts of '\(subnetwork.from)'")
        }
        let targetSize = realTarget.count
        let block = try targetBlock(realTarget: realTarget, targetCodes: targetCodes)
        let targets = block.active.indices.filter { block.active[$0] }
        let t = targets.count
        let sources = source.sourceCount
        var result = Result(relevance: [Float](repeating: 0, count: sources * block.active.count), sourceCount: sources,
                            targetCount: block.active.count, activeTargets: block.active,
                            delta: [Double](repeating: 0, count: block.active.count), completenessError: 0, reconstructionGap: 0)
        guard t > 0 else { return result }

        // X̃ = Vᵀ Uᵀ (+ mean), laid out C×P like the layer itself.
        var reconstruction = [Float](repeating: 0, count: channelsA * positionsA)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasTrans, Int32(channelsA), Int32(positionsA), Int32(k), 1,
                    source.vectors, Int32(channelsA), sourceCodes, Int32(k), 0, &reconstruction, Int32(positionsA))
        if let mean = source.mean {
            for c in 0..<channelsA { for p in 0..<positionsA { reconstruction[c * positionsA + p] += mean[c] } }
        }

        // End points: g_r at F(X̃), F(0) and the real F(X).
        let ends = try subnetwork.forward(Tensor(uncheckedShape: [2] + shapeA,
                                                 data: reconstruction + [Float](repeating: 0, count: reconstruction.count)))
        let gAtRecon = dots(block.cotangents, t, targetSize, ends.output.data, offset: 0)
        let gAtZero = dots(block.cotangents, t, targetSize, ends.output.data, offset: targetSize)
        let gAtReal = dots(block.cotangents, t, targetSize, realTarget.data, offset: 0)

        // G_r = Σ_k w_k ∇_X g_r(F(α_k X̃)), T×(C·P), accumulated chunk by chunk of steps; the engine
        // pulls the block of T cotangents back through every step of a chunk and sums over them.
        let sizeA = channelsA * positionsA
        let cotangents = Tensor(uncheckedShape: [t] + realTarget.shape, data: block.cotangents)
        var gradient = [Float]()
        let stepsPerChunk = max(1, min(quadrature.steps, chunkElements / max(1, t * max(sizeA, targetSize))))
        var first = 0
        while first < quadrature.steps {
            let steps = first..<min(first + stepsPerChunk, quadrature.steps)
            let input = Buffers.make(steps.count * sizeA) { out in
                for (i, step) in steps.enumerated() {
                    let alpha = Float(quadrature.alphas[step])
                    for j in 0..<sizeA { out[i * sizeA + j] = alpha * reconstruction[j] }
                }
            }
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
        for (i, r) in targets.enumerated() {
            gradient.withUnsafeBufferPointer { g in
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(k), Int32(positionsA), Int32(channelsA), 1,
                            source.vectors, Int32(channelsA), g.baseAddress! + i * sizeA, Int32(positionsA), 0, &projected, Int32(positionsA))
            }
            sourceCodes.withUnsafeBufferPointer { u in
                projected.withUnsafeBufferPointer { m in
                    for q in 0..<k {
                        result.relevance[q * result.targetCount + r] =
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
                result.relevance[k * result.targetCount + r] = total
            }
        }

        // Completeness and reconstruction gap (METHOD §4).
        var missing = 0.0, scale = 0.0, gap = 0.0, gapScale = 0.0
        for (i, r) in targets.enumerated() {
            let delta = gAtRecon[i] - gAtZero[i]
            result.delta[r] = delta
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

    /// The cotangent of g_r at b for every active target r, T×size row-major, and the active flags.
    func targetBlock(realTarget: Tensor, targetCodes: [Float]?) throws -> (cotangents: [Float], active: [Bool]) {
        let size = realTarget.count
        switch target {
        case .classes(let count):
            guard size == count else {
                throw CNNError.shapeMismatch("logits of '\(subnetwork.to)' have \(size) values, expected \(count) classes")
            }
            var block = [Float](repeating: 0, count: count * count)
            for c in 0..<count { block[c * count + c] = 1 }
            return (block, [Bool](repeating: true, count: count))
        case .concepts(let basis):
            let positions = size / basis.channels
            var maskValues = [Float](repeating: 1, count: positions * basis.count)
            var active = [Bool](repeating: true, count: basis.count)
            if mask == .masked {
                guard let codes = targetCodes, codes.count == positions * basis.count else {
                    throw CNNError.shapeMismatch("target codes for '\(subnetwork.to)' must be \(positions)×\(basis.count)")
                }
                active = [Bool](repeating: false, count: basis.count)
                for p in 0..<positions {
                    for r in 0..<basis.count {
                        let on = basis.isActive(codes[p * basis.count + r])
                        maskValues[p * basis.count + r] = on ? 1 : 0
                        if on { active[r] = true }
                    }
                }
            }
            let targets = active.indices.filter { active[$0] }
            var block = [Float](repeating: 0, count: targets.count * size)
            for (i, r) in targets.enumerated() {
                for c in 0..<basis.channels {
                    let v = basis.vectors[r * basis.channels + c]
                    for p in 0..<positions { block[i * size + c * positions + p] = v * maskValues[p * basis.count + r] }
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
