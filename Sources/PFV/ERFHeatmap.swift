import Core
import ImageIO

/// A receptive-field map drawn as an RGB image: white at 0, shading to red for positive and blue
/// for negative values, full colour at the largest |value| of the map (an all-zero map is white).
public enum ERFHeatmap {
    /// Row-major interleaved RGB bytes (3 per value) of `map`.
    public static func pixels(_ map: [Float]) -> [UInt8] {
        let peak = map.reduce(Float(0)) { max($0, abs($1)) }
        var px = [UInt8]()
        px.reserveCapacity(map.count * 3)
        for v in map {
            let a = peak > 0 && v.isFinite ? abs(v) / peak : 0
            let fade = UInt8(((1 - a) * 255).rounded())
            px.append(contentsOf: v >= 0 ? [255, fade, fade] : [fade, fade, 255])
        }
        return px
    }

    /// Writes `map` (`[H, W]`) as an RGB PNG (temporary file, then rename).
    public static func writePNG(_ map: Tensor, to path: String) throws {
        guard map.rank == 2 else { throw PFVError.shapeMismatch("a receptive-field map is [H, W], got \(map.shape)") }
        try PNGEncoder.write(width: map.shape[1], height: map.shape[0], channels: 3, pixels: pixels(map.data), to: path)
    }
}
