import Core
import ImageIO

/// Attribution maps drawn as RGB pixels, normalised Adebayo's way (METHOD §7): signed maps
/// diverging (divided by the 99th percentile of |M|, clipped to [−1, 1]; red positive, blue
/// negative, white 0), absolute maps sequential (|M| clipped at its 99th percentile, scaled to
/// [0, 1]; black → red → yellow → white). Overlays blend the colour into the grey un-normalised
/// image with opacity |value|.
///
///     let px = AttributionRendering.heatmap(map, signed: true)   // H·W·3 bytes
public enum AttributionRendering {
    /// Whether maps are drawn signed or as absolute values.
    public enum Style: String, Sendable, CaseIterable, Codable {
        case signed, absolute
    }

    /// Normalised values (see the type's comment) and the colour of each value.
    static func colours(_ map: [Float], style: Style) -> [(value: Double, rgb: (Double, Double, Double))] {
        let m = map.map(Double.init)
        switch style {
        case .signed:
            return MapMetrics.normalizedSigned(m).map { v in
                let fade = 1 - abs(v)
                return (v, v >= 0 ? (1, fade, fade) : (fade, fade, 1))
            }
        case .absolute:
            return MapMetrics.normalizedAbsolute(m).map { v in
                (v, (min(1, 3 * v), max(0, min(1, 3 * v - 1)), max(0, min(1, 3 * v - 2))))
            }
        }
    }

    static func byte(_ v: Double) -> UInt8 { UInt8(max(0, min(255, (v * 255).rounded()))) }

    /// RGB bytes of a map (H·W values) in `style`.
    public static func heatmap(_ map: [Float], style: Style) -> [UInt8] {
        colours(map, style: style).flatMap { [byte($0.rgb.0), byte($0.rgb.1), byte($0.rgb.2)] }
    }

    /// The raw image in [0, 1] from a normalised `[C, H, W]` one: x·std + mean per channel (one
    /// value applies to every channel; empty mean/std mean 0 and 1), clipped.
    public static func rawImage(_ image: [Float], channels: Int, mean: [Float], std: [Float]) -> [Float] {
        let plane = image.count / max(1, channels)
        return image.enumerated().map { i, x in
            let c = i / max(1, plane)
            let s = std.isEmpty ? 1 : std[std.count == 1 ? 0 : min(c, std.count - 1)]
            let m = mean.isEmpty ? 0 : mean[mean.count == 1 ? 0 : min(c, mean.count - 1)]
            return max(0, min(1, x * s + m))
        }
    }

    /// RGB bytes of the map blended into the grey (luma) raw image (`[C, H, W]` in [0, 1]).
    public static func overlay(_ map: [Float], raw: [Float], channels: Int, style: Style) -> [UInt8] {
        let plane = map.count
        var out = [UInt8]()
        out.reserveCapacity(plane * 3)
        for (k, c) in colours(map, style: style).enumerated() {
            let grey = channels >= 3 ? 0.299 * Double(raw[k]) + 0.587 * Double(raw[plane + k]) + 0.114 * Double(raw[2 * plane + k])
                                     : Double(raw[k])
            let a = abs(c.value)
            out += [byte((1 - a) * grey + a * c.rgb.0), byte((1 - a) * grey + a * c.rgb.1), byte((1 - a) * grey + a * c.rgb.2)]
        }
        return out
    }

    /// The map summed over channels: `[C, H, W]` → `[H, W]` values.
    public static func channelSum(_ map: [Float], channels: Int) -> [Float] {
        let plane = map.count / max(1, channels)
        var out = [Float](repeating: 0, count: plane)
        for c in 0..<channels { for k in 0..<plane { out[k] += map[c * plane + k] } }
        return out
    }

    /// Writes RGB bytes as a PNG (temporary file, then rename).
    public static func writePNG(_ pixels: [UInt8], width: Int, height: Int, to path: String) throws {
        try PNGEncoder.write(width: width, height: height, channels: 3, pixels: pixels, to: path)
    }
}
