import Foundation

/// A Generalized IG reference file `Tests/Fixtures/trees/<name>_gig.json`, written by
/// tools/make_tree_fixtures.py from the paper's definition on the scikit-learn / LightGBM model
/// itself: the baseline [F] and, per explained output element, the attributions, crossing points and
/// f(x) − f(x') of every row of `<name>_inputs.npy`.
///
///     let ref = try GeneralizedIGReference.load("gb_multi")
///     print(ref.targets[0].attributions[0])
public struct GeneralizedIGReference: Decodable, Sendable {
    public struct Target: Decodable, Sendable {
        public let output: String
        public let index: Int
        public let attributions: [[Double]]
        public let crossings: [Int]
        public let delta: [Double]
    }
    public let baseline: [Float]
    public let targets: [Target]

    public static func load(_ name: String) throws -> GeneralizedIGReference {
        let path = TestPaths.fixture("trees") + "/\(name)_gig.json"
        return try JSONDecoder().decode(GeneralizedIGReference.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    }
}
