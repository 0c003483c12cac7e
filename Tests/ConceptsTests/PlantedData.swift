import Foundation
@testable import Concepts
@testable import Core

/// Synthetic PFVs with known structure, and helpers to compare learned concepts with it.
enum PlantedData {
    /// A standard normal draw (Box–Muller).
    static func gaussian(_ rng: inout SamplingRNG) -> Float {
        let u1 = max(rng.unit(), 1e-300), u2 = rng.unit()
        return Float((-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2))
    }

    /// `k` non-negative unit vectors of `c` channels, each supported on its own block of channels
    /// plus a little shared mass (so they are distinct but not orthogonal).
    static func nonNegativeAtoms(k: Int, c: Int, rng: inout SamplingRNG) -> Matrix {
        var atoms = Matrix(rows: k, cols: c)
        let block = c / k
        for j in 0..<k {
            for i in 0..<c {
                let inBlock = i >= j * block && i < (j + 1) * block
                atoms[j, i] = inBlock ? Float(0.5 + rng.unit()) : Float(0.1 * rng.unit())
            }
        }
        ConceptLearner.normalizeRows(&atoms)
        return atoms
    }

    /// `k` orthonormal directions (Gram–Schmidt of random vectors).
    static func orthonormalAtoms(k: Int, c: Int, rng: inout SamplingRNG) -> Matrix {
        var atoms = Matrix(rows: k, cols: c)
        for j in 0..<k {
            var v = (0..<c).map { _ in Double(gaussian(&rng)) }
            for p in 0..<j {
                let dot = (0..<c).reduce(0.0) { $0 + v[$1] * Double(atoms[p, $1]) }
                for i in 0..<c { v[i] -= dot * Double(atoms[p, i]) }
            }
            let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            for i in 0..<c { atoms[j, i] = Float(v[i] / norm) }
        }
        return atoms
    }

    /// N PFVs, each a non-negative combination of `active` random atoms (weights 0.5…1.5) plus
    /// non-negative noise of scale `noise`.
    static func sparseCombinations(atoms: Matrix, n: Int, active: Int, noise: Float, rng: inout SamplingRNG) -> Matrix {
        var x = Matrix(rows: n, cols: atoms.cols)
        for r in 0..<n {
            var chosen = Set<Int>()
            while chosen.count < min(active, atoms.rows) { chosen.insert(Int(rng.unit() * Double(atoms.rows))) }
            for j in chosen {
                let w = Float(0.5 + rng.unit())
                for i in 0..<atoms.cols { x[r, i] += w * atoms[j, i] }
            }
            for i in 0..<atoms.cols { x[r, i] += noise * abs(gaussian(&rng)) }
        }
        return x
    }

    /// N PFVs x = offset + Σ_j s_j z_j v_j + noise with z ~ N(0, 1) (for PCA).
    static func gaussianMixture(atoms: Matrix, scales: [Float], n: Int, noise: Float, rng: inout SamplingRNG) -> Matrix {
        var x = Matrix(rows: n, cols: atoms.cols)
        for r in 0..<n {
            for i in 0..<atoms.cols { x[r, i] = 2 + noise * gaussian(&rng) }
            for j in 0..<atoms.rows {
                let z = scales[j] * gaussian(&rng)
                for i in 0..<atoms.cols { x[r, i] += z * atoms[j, i] }
            }
        }
        return x
    }

    /// Greedy matching of planted to learned rows by |cosine| (best pair first);
    /// returns the |cosine| of every planted row's match.
    static func matchedCosines(planted: Matrix, learned: Matrix) -> [Double] {
        var pairs: [(Double, Int, Int)] = []
        for a in 0..<planted.rows {
            for b in 0..<learned.rows {
                var dot = 0.0, na = 0.0, nb = 0.0
                for i in 0..<planted.cols {
                    dot += Double(planted[a, i]) * Double(learned[b, i])
                    na += Double(planted[a, i] * planted[a, i])
                    nb += Double(learned[b, i] * learned[b, i])
                }
                pairs.append((abs(dot) / max(1e-30, (na * nb).squareRoot()), a, b))
            }
        }
        pairs.sort { $0.0 > $1.0 }
        var usedA = Set<Int>(), usedB = Set<Int>()
        var result = [Double](repeating: 0, count: planted.rows)
        for (cos, a, b) in pairs where !usedA.contains(a) && !usedB.contains(b) {
            usedA.insert(a); usedB.insert(b)
            result[a] = cos
        }
        return result
    }
}
