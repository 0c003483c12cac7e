import Core
import ImageIO

/// An exemplar patch of a PFV (METHOD §2): the input crop covering the top mass of |iERF|,
/// rendered from the un-normalised image, optionally with the map as a translucent heat overlay.
public struct ExemplarPatch: Sendable {
    /// The crop box on the input image.
    public let box: PatchBox
    public let width: Int
    public let height: Int
    /// 1 (grey, no overlay) or 3 (RGB).
    public let channels: Int
    /// Row-major interleaved 8-bit pixels of the crop.
    public let pixels: [UInt8]

    /// Crops `image` (`[C, H, W]` or `[1, C, H, W]`, normalised as `normalization` says; C = 1 or 3)
    /// to the box covering `mass` of |`map`| (H·W values). With `overlay`, positive map values tint
    /// red and negative blue, with opacity up to `opacity` at the largest |value|.
    public init(image: Tensor, map: [Float], mass: Double = 0.9, normalization: ImageNormalization = .identity,
                overlay: Bool = false, opacity: Float = 0.5) throws {
        let (_, h, w) = try Self.channelsHeightWidth(image)
        let box = try PatchBox.covering(map, height: h, width: w, mass: mass)
        try self.init(image: image, box: box, normalization: normalization, tint: overlay ? map : nil, opacity: opacity)
    }

    /// Crops `box` (which must lie inside the image) from `image` (`[C, H, W]` or `[1, C, H, W]`,
    /// normalised as `normalization` says; C = 1 or 3), shown as raw pixels in [0, 1] → 0…255.
    /// With `tint` (an H·W map), positive values tint red and negative blue, with opacity up to
    /// `opacity` at the largest |value|.
    public init(image: Tensor, box: PatchBox, normalization: ImageNormalization = .identity,
                tint map: [Float]? = nil, opacity: Float = 0.5) throws {
        let (c, h, w) = try Self.channelsHeightWidth(image)
        guard normalization.mean.count == 1 || normalization.mean.count == c else {
            throw PFVError.invalidRequest("normalisation has \(normalization.mean.count) channels, the image \(c)")
        }
        guard box.top >= 0, box.left >= 0, box.height > 0, box.width > 0,
              box.top + box.height <= h, box.left + box.width <= w else {
            throw PFVError.invalidRequest("patch box \(box) is not inside the \(h)×\(w) image")
        }
        if let map, map.count != h * w {
            throw PFVError.shapeMismatch("tint map of \(map.count) values for a \(h)×\(w) image")
        }
        let outC = map != nil ? 3 : c
        let peak = map?.map { abs($0) }.max() ?? 0
        var px = [UInt8]()
        px.reserveCapacity(box.height * box.width * outC)
        for r in box.top..<(box.top + box.height) {
            for col in box.left..<(box.left + box.width) {
                var rgb = (0..<outC).map { k -> Float in
                    let ch = min(k, c - 1)
                    return min(max(normalization.raw(image.data[(ch * h + r) * w + col], channel: ch), 0), 1)
                }
                if let map, peak > 0 {
                    let v = map[r * w + col], a = opacity * abs(v) / peak
                    let tint: [Float] = v >= 0 ? [1, 0, 0] : [0, 0, 1]
                    for k in 0..<3 { rgb[k] = (1 - a) * rgb[k] + a * tint[k] }
                }
                px.append(contentsOf: rgb.map { UInt8(($0 * 255).rounded()) })
            }
        }
        self.box = box
        width = box.width
        height = box.height
        channels = outC
        pixels = px
    }

    /// (C, H, W) of a grey or RGB image `[C, H, W]` or `[1, C, H, W]`.
    static func channelsHeightWidth(_ image: Tensor) throws -> (Int, Int, Int) {
        let shape = image.rank == 4 && image.shape[0] == 1 ? Array(image.shape.dropFirst()) : image.shape
        guard shape.count == 3, shape[0] == 1 || shape[0] == 3 else {
            throw PFVError.shapeMismatch("exemplar patches need a grey or RGB image [C, H, W] with C = 1 or 3, got \(image.shape)")
        }
        return (shape[0], shape[1], shape[2])
    }

    /// Writes the patch as a PNG (temporary file, then rename).
    public func writePNG(to path: String) throws {
        try PNGEncoder.write(width: width, height: height, channels: channels, pixels: pixels, to: path)
    }
}
