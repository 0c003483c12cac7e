import COpenBLAS
import Core
import Foundation

/// Where a bank's training PFVs came from: the sampling seed and how many PFVs were used.
public struct ConceptSample: Sendable, Codable, Equatable {
    public var seed: UInt64
    public var count: Int
    public init(seed: UInt64, count: Int) { self.seed = seed; self.count = count }
}

/// The concepts of one layer (METHOD §3): K concept vectors of C channels, how they were learned,
/// how PFVs are coded against them, and the quality measured on the training sample.
/// Stored as JSON (`write(to:)`, `read(from:)`).
public struct ConceptBank: Sendable, Codable, Equatable {
    /// File format tag and version, checked on reading.
    public var format: String = ConceptBank.formatName
    public var version: Int = ConceptBank.formatVersion
    /// Layer (tensor) name.
    public var layer: String
    public var method: ConceptMethod
    /// Concept vectors V, K×C; each row has unit norm, or is zero where the method could not give
    /// it a direction (an all-zero k-means centroid, a dead NMF component) — such a concept is never active.
    public var concepts: Matrix
    /// PCA only: the mean PFV (length C); x̃ = mean + Vᵀu.
    public var mean: [Float]?
    /// Coding: λ relative to ‖x‖ (kmeans, nmf).
    public var lambda: Float
    /// Coding: coordinate-descent sweep cap and relative tolerance.
    public var codingMaxSweeps: Int
    public var codingTolerance: Float
    /// The PFV sample the bank was learned from.
    public var sample: ConceptSample
    /// Quality on the training sample.
    public var quality: QualityReport
    /// How `encode` codes a PFV (METHOD §3): the non-negative Lasso, or its support refit by
    /// non-negative least squares (kmeans, nmf only). Bank files without it read as `.lasso`.
    public var coding: Coding = .lasso

    /// How the codes of a non-negative bank are computed (METHOD §3, `gigtrace trace --coding`).
    public enum Coding: String, Sendable, Codable, CaseIterable {
        /// u = argmin ½‖x − Vᵀu‖² + λ‖x‖·‖u‖₁, u ≥ 0 (λ shrinks the codes, so X̃ is smaller than X).
        case lasso
        /// The Lasso picks the support S = {j : u_j > 0}; u_S is then refit by non-negative least
        /// squares, u_S = argmin ½‖x − V_Sᵀu_S‖², u_S ≥ 0 (entries it sets to 0 leave the support),
        /// which removes λ's shrinkage. Not defined for PCA and identity banks, whose codes are linear.
        case debiased
    }

    public static let formatName = "gigtrace-concept-bank"
    public static let formatVersion = 1

    /// Number of concepts K.
    public var k: Int { concepts.rows }
    /// Number of channels C of the layer.
    public var channels: Int { concepts.cols }
    /// Whether codes are signed (PCA, identity): a concept is then active where its code is ≠ 0,
    /// otherwise (k-means, NMF) where it is > 0.
    public var signedCodes: Bool { method == .pca || method == .identity }

    /// The λ in the closed form of a code on its support S (METHOD §4, the coefficient target): the
    /// Lasso's KKT conditions give u_S = G_S⁻¹(V_S x − λ‖x‖·1) for `.lasso` codes; debiased codes
    /// are the least-squares solution on S, u_S = G_S⁻¹V_S x (λ = 0), and PCA / identity codes are
    /// linear (λ = 0).
    public var supportLambda: Float { coding == .lasso && !signedCodes ? lambda : 0 }

    /// Whether code value `u` counts as active (see `signedCodes`).
    @inline(__always) public func isActive(_ u: Float) -> Bool { signedCodes ? u != 0 : u > 0 }

    /// The identity bank of a layer with `channels` channels: every channel its own concept, codes =
    /// the activations (a channel-level graph; GIG then reduces to Integrated Gradients summed over
    /// positions). Learned from no PFVs, so its quality report is empty (R² 0, no active concept).
    ///
    ///     let bank = ConceptBank.identity(channels: 64, layer: "/stage3/relu/Relu_output_0")
    public static func identity(channels: Int, layer: String = "") -> ConceptBank {
        let concepts = Matrix.identity(channels)
        let none = Matrix(rows: 0, cols: channels)
        return ConceptBank(layer: layer, method: .identity, concepts: concepts, mean: nil, lambda: 0, codingMaxSweeps: 1,
                           codingTolerance: 0, sample: ConceptSample(seed: 0, count: 0),
                           quality: QualityReport.measure(pfvs: none, codes: none, concepts: concepts, mean: nil,
                                                          layer: layer, method: .identity))
    }

    /// Codes of `pfvs` (N×C): N×K. kmeans / nmf: the non-negative Lasso
    /// u = argmin ½‖x − Vᵀu‖² + λ‖x‖·‖u‖₁, u ≥ 0, by coordinate descent on VVᵀ with Vx from one GEMM,
    /// and with `coding == .debiased` its support refit by non-negative least squares (Lawson–Hanson);
    /// pca: u = V(x − mean); identity: u = x. Throws on a channel mismatch, non-finite PFVs, or debiased
    /// coding of a PCA / identity bank.
    ///
    ///     var bank = try ConceptLearner.learn(pfvs: p, k: 16, method: .kmeans)
    ///     bank.coding = .debiased
    ///     let u = try bank.encode(p)   // N×16, no λ shrinkage on each PFV's support
    public func encode(_ pfvs: Matrix, threads: Int = 1) throws -> Matrix {
        guard pfvs.cols == channels else {
            throw ConceptError.shapeMismatch("PFVs have \(pfvs.cols) channels but the concept bank of layer '\(layer)' has \(channels)")
        }
        if let problem = codingProblem { throw ConceptError.invalidRequest("concept bank of layer '\(layer)': \(problem)") }
        try ConceptLearner.checkFinite(pfvs)
        let n = pfvs.rows, c = channels, k = self.k
        if n == 0 { return Matrix(rows: 0, cols: k) }
        switch method {
        case .identity:
            return pfvs
        case .pca:
            var codes = Linalg.product(pfvs, concepts, transB: true)
            if let mean {
                let shift = Linalg.product(try Matrix(rows: 1, cols: c, data: mean), concepts, transB: true).data
                let ones = [Float](repeating: 1, count: n)
                codes.data.withUnsafeMutableBufferPointer { pc in
                    cblas_sger(CblasRowMajor, Int32(n), Int32(k), -1, ones, 1, shift, 1, pc.baseAddress!, Int32(k))
                }
            }
            return codes
        case .kmeans, .nmf:
            let linear = Linalg.product(pfvs, concepts, transB: true)
            let gram = concepts.data.withUnsafeBufferPointer { Linalg.gramOfRows($0.baseAddress!, rows: k, cols: c) }
            let lambdas = pfvs.data.withUnsafeBufferPointer { p in
                Linalg.rowSquaredNorms(p.baseAddress!, rows: n, cols: c).map { lambda * Float($0.squareRoot()) }
            }
            var codes = Matrix(rows: n, cols: k)
            _ = codes.data.withUnsafeMutableBufferPointer { pu in
                linear.data.withUnsafeBufferPointer { pl in
                    CoordinateDescent.solve(
                        gram: gram, linear: pl.baseAddress!, codes: pu.baseAddress!, codesAreZero: true, rows: n, k: k,
                        lambdas: lambdas, nonNegative: true, maxSweeps: codingMaxSweeps, tolerance: codingTolerance,
                        threads: threads)
                }
            }
            if coding == .debiased {
                codes.data.withUnsafeMutableBufferPointer { pu in
                    pfvs.data.withUnsafeBufferPointer { px in
                        concepts.data.withUnsafeBufferPointer { pv in
                            NonNegativeLeastSquares.refitSupports(codes: pu.baseAddress!, pfvs: px.baseAddress!, concepts: pv.baseAddress!,
                                                                  rows: n, k: k, c: c, threads: threads)
                        }
                    }
                }
            }
            return codes
        }
    }

    /// PFVs rebuilt from codes (N×K): x̃ = Vᵀu (+ mean for PCA), N×C.
    public func reconstruct(_ codes: Matrix) throws -> Matrix {
        guard codes.cols == k else {
            throw ConceptError.shapeMismatch("codes have \(codes.cols) columns but layer '\(layer)' has K = \(k) concepts")
        }
        if codes.rows == 0 { return Matrix(rows: 0, cols: channels) }
        var x = Linalg.product(codes, concepts)
        if let mean { for r in 0..<x.rows { for c in 0..<channels { x.data[r * channels + c] += mean[c] } } }
        return x
    }

    /// Writes the bank as JSON to `path` (temporary file + rename).
    public func write(to path: String) throws {
        if let problem = validationProblem() { throw ConceptError.invalidBank("refusing to write concept bank \(path): \(problem)") }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data: Data
        do { data = try encoder.encode(self) } catch {
            throw ConceptError.invalidBank("cannot encode concept bank for \(path): \(error)")
        }
        try AtomicFile.write(data, to: path)
    }

    /// Reads and validates a bank. `layer` / `channels`, when given, must match the file's.
    /// Any problem throws one `InputError` naming the file.
    public static func read(from path: String, layer expectedLayer: String? = nil, channels expectedChannels: Int? = nil) throws -> ConceptBank {
        let data = try AtomicFile.read(path)
        let bank: ConceptBank
        do { bank = try JSONDecoder().decode(ConceptBank.self, from: data) } catch let error as DecodingError {
            throw InputError.corruptFile(path: path, reason: "not a concept bank (\(describe(error)))")
        } catch {
            throw InputError.corruptFile(path: path, reason: "not a concept bank (\(error))")
        }
        if let problem = bank.validationProblem() { throw InputError.corruptFile(path: path, reason: problem) }
        if let expectedLayer, expectedLayer != bank.layer {
            throw InputError.corruptFile(path: path, reason: "concept bank is for layer '\(bank.layer)', not '\(expectedLayer)'")
        }
        if let expectedChannels, expectedChannels != bank.channels {
            throw InputError.corruptFile(path: path, reason: "concept bank has \(bank.channels) channels, layer '\(bank.layer)' has \(expectedChannels)")
        }
        return bank
    }

    /// Why this bank is inconsistent, or nil when it is fine.
    public func validationProblem() -> String? {
        if format != ConceptBank.formatName { return "format is '\(format)', expected '\(ConceptBank.formatName)'" }
        if version != ConceptBank.formatVersion { return "format version \(version), this build reads \(ConceptBank.formatVersion)" }
        if concepts.rows < 1 || concepts.cols < 1 || concepts.data.count != concepts.rows * concepts.cols {
            return "concept matrix \(concepts.rows)×\(concepts.cols) holds \(concepts.data.count) values"
        }
        if let bad = concepts.data.firstIndex(where: { !$0.isFinite }) { return "concept \(bad / concepts.cols) has a non-finite value" }
        for j in 0..<k {
            let norm = concepts.data[(j * channels)..<((j + 1) * channels)].reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            if norm != 0 && abs(norm - 1) > 1e-3 { return "concept \(j) has norm \(String(format: "%.4f", norm)), expected 1 (or 0)" }
        }
        if method == .pca {
            guard let mean, mean.count == channels, mean.allSatisfy(\.isFinite) else {
                return "a PCA bank needs a finite mean of \(channels) values"
            }
        } else if mean != nil {
            return "only PCA banks have a mean"
        }
        if method == .identity && k != channels { return "identity bank must have K = C, has \(k)×\(channels)" }
        if !(lambda >= 0) || !lambda.isFinite { return "lambda \(lambda) must be ≥ 0" }
        if codingMaxSweeps < 1 { return "codingMaxSweeps \(codingMaxSweeps) must be ≥ 1" }
        if let codingProblem { return codingProblem }
        if quality.k != k || quality.activeShare.count != k { return "quality report is for K = \(quality.k), bank has \(k)" }
        return nil
    }

    /// Why `coding` does not apply to this bank's method, or nil.
    var codingProblem: String? { Self.codingProblem(method: method, coding: coding) }

    /// Why `coding` does not apply to banks of `method` (debiased PCA or identity codes), or nil.
    ///
    ///     ConceptBank.codingProblem(method: .pca, coding: .debiased)   // "debiased codes are defined …"
    public static func codingProblem(method: ConceptMethod, coding: Coding) -> String? {
        coding == .debiased && !method.nonNegativeCodes
            ? "debiased codes are defined for kmeans and nmf banks only; \(method.rawValue) codes are linear (use --coding lasso)"
            : nil
    }

    private static func describe(_ error: DecodingError) -> String {
        switch error {
        case .dataCorrupted(let c): return c.debugDescription
        case .keyNotFound(let key, _): return "missing field '\(key.stringValue)'"
        case .typeMismatch(_, let c), .valueNotFound(_, let c):
            return "bad field '\(c.codingPath.map(\.stringValue).joined(separator: "."))'"
        @unknown default: return "\(error)"
        }
    }
}

extension ConceptBank {
    /// Reads a bank file; files written before `coding` existed have none and read as `.lasso`.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        format = try c.decode(String.self, forKey: .format)
        version = try c.decode(Int.self, forKey: .version)
        layer = try c.decode(String.self, forKey: .layer)
        method = try c.decode(ConceptMethod.self, forKey: .method)
        concepts = try c.decode(Matrix.self, forKey: .concepts)
        mean = try c.decodeIfPresent([Float].self, forKey: .mean)
        lambda = try c.decode(Float.self, forKey: .lambda)
        codingMaxSweeps = try c.decode(Int.self, forKey: .codingMaxSweeps)
        codingTolerance = try c.decode(Float.self, forKey: .codingTolerance)
        sample = try c.decode(ConceptSample.self, forKey: .sample)
        quality = try c.decode(QualityReport.self, forKey: .quality)
        coding = try c.decodeIfPresent(Coding.self, forKey: .coding) ?? .lasso
    }

    /// A bank from stored parts (e.g. a trace database's bank record, which keeps R², non-zeros and
    /// activity shares of the quality report); throws when they are
    /// inconsistent, by the same rules as `read(from:)`.
    public static func restored(layer: String, method: ConceptMethod, concepts: Matrix, mean: [Float]?, lambda: Float,
                                codingMaxSweeps: Int, codingTolerance: Float, sample: ConceptSample,
                                r2: Double, meanNonzeros: Double, activeShare: [Double], coding: Coding = .lasso) throws -> ConceptBank {
        let quality = QualityReport(layer: layer, method: method, k: concepts.rows, pfvCount: sample.count, r2: r2,
                                    meanNonzeros: meanNonzeros, activeShare: activeShare,
                                    deadConcepts: activeShare.indices.filter { activeShare[$0] == 0 })
        let bank = ConceptBank(layer: layer, method: method, concepts: concepts, mean: mean, lambda: lambda,
                               codingMaxSweeps: codingMaxSweeps, codingTolerance: codingTolerance, sample: sample, quality: quality,
                               coding: coding)
        if let problem = bank.validationProblem() { throw ConceptError.invalidBank("concept bank of layer '\(layer)': \(problem)") }
        return bank
    }
}
