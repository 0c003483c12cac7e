/// SRD sharing numerators of a conv for every (tap, output position), computed during the SRD
/// forward pass from `ConvTapProducts`: ⟨c_{k→j}, z_j⟩ and ‖c_{k→j}‖², tap-major `[taps, H·W]`.
struct ConvTapNumerators: Sendable {
    let taps: Int
    /// Output positions H·W.
    let positions: Int
    let dots: [Float]
    let norms: [Float]

    /// Copies the columns of `active` output positions into tap-major `[taps, active.count]` arrays.
    func select(_ active: [Int], dots d: UnsafeMutablePointer<Float>, norms n: UnsafeMutablePointer<Float>) {
        let a = active.count
        for t in 0..<taps {
            for (i, j) in active.enumerated() {
                d[t * a + i] = dots[t * positions + j]
                n[t * a + i] = norms[t * positions + j]
            }
        }
    }
}
