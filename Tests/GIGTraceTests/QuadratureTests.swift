import Foundation
import Testing
@testable import Core
@testable import GIGTrace

/// Quadrature points and weights against Captum's own `approximation_parameters`, recorded in
/// Tests/Fixtures/quadrature/captum.json by tools/make_quadrature_fixture.py.
@Suite struct QuadratureTests {
    struct Rule: Decodable { let alphas: [Double]; let weights: [Double] }

    static let captum: [String: [String: Rule]] = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../Fixtures/quadrature/captum.json")
        guard let data = try? Data(contentsOf: url) else { return [:] }
        return (try? JSONDecoder().decode([String: [String: Rule]].self, from: data)) ?? [:]
    }()

    @Test(arguments: Quadrature.Method.allCases)
    func matchesCaptum(method: Quadrature.Method) throws {
        let rules = try #require(Self.captum[method.rawValue], "fixture has no \(method.rawValue)")
        #expect(rules.count == 5)
        for (stepsText, reference) in rules {
            let steps = try #require(Int(stepsText))
            let rule = try Quadrature(method: method, steps: steps)
            #expect(rule.alphas.count == steps && rule.weights.count == steps)
            // Riemann points come from a float32 torch.linspace, which vectorises differently for
            // long ranges: agreement to float32 rounding (≤ 1 ulp near 1); weights are exact.
            for (ours, theirs) in zip(rule.alphas, reference.alphas) { #expect(abs(ours - theirs) <= 1.2e-7, "α \(method) n=\(steps)") }
            for (ours, theirs) in zip(rule.weights, reference.weights) { #expect(abs(ours - theirs) <= 1e-12, "w \(method) n=\(steps)") }
        }
    }

    @Test func gaussLegendreIntegratesPolynomialsExactly() throws {
        // n points integrate degree 2n−1 exactly: ∫₀¹ α^d dα = 1/(d+1).
        let rule = try Quadrature(method: .gaussLegendre, steps: 6)
        for d in 0...11 {
            let sum = zip(rule.alphas, rule.weights).reduce(0) { $0 + $1.1 * pow($1.0, Double(d)) }
            #expect(abs(sum - 1 / Double(d + 1)) < 1e-13, "degree \(d)")
        }
    }

    @Test func trapezoidWeightsSumToCaptumsShortfall() throws {
        let rule = try Quadrature(method: .riemannTrapezoid, steps: 8)
        #expect(abs(rule.weights.reduce(0, +) - 7.0 / 8.0) < 1e-15)
    }

    @Test func rejectsTooFewSteps() {
        #expect(throws: InputError.self) { try Quadrature(method: .riemannTrapezoid, steps: 1) }
        #expect(throws: InputError.self) { try Quadrature(method: .gaussLegendre, steps: 0) }
    }
}
