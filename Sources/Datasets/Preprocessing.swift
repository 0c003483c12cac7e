import Core
import ImageIO

/// The torchvision transform chain a model's input goes through, reproduced exactly on the PIL path:
///
///     loader .convert("RGB"/"L") → Resize(resize) → CenterCrop(crop) → ToTensor() → Normalize(mean, std)
///
/// - Channels: grey → RGB replicates; RGBA → RGB drops alpha (Pillow's `convert("RGB")`);
///   RGB(A) → grey uses Pillow's `convert("L")`: `(R·19595 + G·38470 + B·7471 + 0x8000) >> 16`.
/// - Resize: shorter side to `resize`, longer side `Int(resize * long / short)` (torchvision's
///   rule, truncating), Pillow bilinear with antialiasing (`PillowResample`), 8-bit result.
/// - CenterCrop: offset `round((h - th) / 2)` with Python's round-half-to-even; a crop larger than
///   the image pads with zeros first, as torchvision does (left/top pad `(th - h) / 2`).
/// - ToTensor: `Float(u) / 255` in float32; Normalize: `(x - mean[c]) / std[c]` in float32.
///   8-bit values go through a 256-entry table per channel computed with exactly these operations.
/// Float sources (float32 arrays) skip the /255 and are resized with Pillow's float filter.
public struct Preprocessing: Sendable, Equatable {
    /// Target length of the shorter side, or nil to keep the size.
    public var resize: Int?
    /// Center crop as (height, width), or nil for none.
    public var crop: (height: Int, width: Int)?
    /// Output channel count (1, 3), or nil to keep the source's (RGBA becomes RGB).
    public var channels: Int?
    /// Per-channel mean and std (empty = none; one value applies to every channel).
    public var mean: [Float]
    public var std: [Float]

    public init(resize: Int? = nil, crop: (height: Int, width: Int)? = nil, channels: Int? = nil,
                mean: [Float] = [], std: [Float] = []) {
        self.resize = resize
        self.crop = crop
        self.channels = channels
        self.mean = mean
        self.std = std
    }

    public static func == (a: Preprocessing, b: Preprocessing) -> Bool {
        a.resize == b.resize && a.crop?.height == b.crop?.height && a.crop?.width == b.crop?.width
            && a.channels == b.channels && a.mean == b.mean && a.std == b.std
    }

    /// Checks the settings themselves (positive sizes, channel count, mean/std lengths, std ≠ 0).
    public func validate() throws {
        if let r = resize, r <= 0 { throw InputError.invalidParameter(.resize, "resize must be positive, got \(r)") }
        if let c = crop, c.height <= 0 || c.width <= 0 {
            throw InputError.invalidParameter(.crop, "crop must be positive, got \(c.height)x\(c.width)")
        }
        // The resized image holds at least resize² pixels, the crop h·w: both must fit the image limit.
        let limit = SizeLimits.current.maxImagePixels
        if let r = resize, (SizeLimits.checkedProduct([r, r]) ?? Int.max) > limit {
            throw InputError.invalidParameter(.resize, "resize \(r) makes images of at least \(r)×\(r) pixels, above the limit of \(limit) (raise it with GIGTRACE_MAX_IMAGE_PIXELS)")
        }
        if let c = crop, (SizeLimits.checkedProduct([c.height, c.width]) ?? Int.max) > limit {
            throw InputError.invalidParameter(.crop, "crop \(c.height)x\(c.width) is above the limit of \(limit) pixels (raise it with GIGTRACE_MAX_IMAGE_PIXELS)")
        }
        if let c = channels, c != 1 && c != 3 { throw InputError.invalidParameter(.channels, "channels must be 1 or 3, got \(c)") }
        for (parameter, v) in [(Parameter.mean, mean), (.std, std)] where v.count > 1 {
            if let c = channels, v.count != c {
                throw InputError.invalidParameter(parameter, "\(parameter.rawValue) has \(v.count) values but the model takes \(c) channels")
            }
        }
        if std.contains(0) { throw InputError.invalidParameter(.std, "std must not contain 0") }
    }

    /// Channel count of the output for a source with `sourceChannels`.
    public func outputChannels(source sourceChannels: Int) -> Int {
        channels ?? (sourceChannels == 4 ? 3 : sourceChannels)
    }

    /// Size (height, width) after Resize, before CenterCrop, following torchvision's rounding.
    public func resizedSize(height: Int, width: Int) -> (height: Int, width: Int) {
        guard let size = resize else { return (height, width) }
        if width <= height {
            return (Preprocessing.clampedSide(Double(size) * Double(height) / Double(width)), size)
        }
        return (size, Preprocessing.clampedSide(Double(size) * Double(width) / Double(height)))
    }

    /// torchvision's truncation of the longer side, clamped so an empty or extreme source cannot
    /// trap the conversion (the pixel limit then rejects the size).
    static func clampedSide(_ value: Double) -> Int {
        value.isFinite ? Int(min(value, Double(Int32.max))) : Int(Int32.max)
    }

    /// Output (channels, height, width) for a source image of these dimensions.
    public func outputShape(channels sourceChannels: Int, height: Int, width: Int) -> [Int] {
        let r = resizedSize(height: height, width: width)
        let h = crop?.height ?? r.height, w = crop?.width ?? r.width
        return [outputChannels(source: sourceChannels), h, w]
    }

    /// Preprocesses `image` into `out` (CHW float32, `outputShape` elements). `path` names the image
    /// in errors (mean/std lengths that do not fit the channels).
    public func apply(_ image: DecodedImage, into out: UnsafeMutableBufferPointer<Float>, path: String) throws {
        guard image.width > 0, image.height > 0 else {
            throw InputError.corruptFile(path: path, reason: "image has no pixels (\(image.width)×\(image.height))")
        }
        let c = outputChannels(source: image.channels)
        let (rh, rw) = resizedSize(height: image.height, width: image.width)
        try SizeLimits.current.checkImage(width: rw, height: rh, what: "\(path) resized to \(rw)×\(rh)")
        let oh = crop?.height ?? rh, ow = crop?.width ?? rw
        guard out.count == c * oh * ow else {
            throw DatasetError.shapeMismatch("\(path): preprocessed image is \(c)x\(oh)x\(ow), batch slot holds \(out.count) values")
        }
        let means = try perChannel(mean, default: 0, channels: c, parameter: .mean)
        let stds = try perChannel(std, default: 1, channels: c, parameter: .std)
        // Window of the resized image that the crop keeps, and where it lands in the output.
        let top = Preprocessing.cropOffset(rh, oh), left = Preprocessing.cropOffset(rw, ow)
        let rows = max(0, top)..<min(rh, top + oh), cols = max(0, left)..<min(rw, left + ow)
        let padded = rows.count != oh || cols.count != ow
        if padded { for i in out.indices { out[i] = 0 } }
        let dy = rows.lowerBound - top, dx = cols.lowerBound - left
        let plane = oh * ow
        switch image.pixels {
        case .uint8(let source):
            let converted = Preprocessing.convert(source, from: image.channels, to: c)
            let window = PillowResample.resize(converted, inWidth: image.width, inHeight: image.height, channels: c,
                                               outWidth: rw, outHeight: rh, rows: rows, cols: cols)
            var tables = [Float](repeating: 0, count: 256 * c)
            for ch in 0..<c {
                for u in 0..<256 { tables[ch * 256 + u] = (Float(u) / 255 - means[ch]) / stds[ch] }
            }
            let wc = cols.count
            if padded {
                // torchvision pads the uint8 image with 0 before ToTensor/Normalize.
                for ch in 0..<c { for i in 0..<plane { out[ch * plane + i] = tables[ch * 256] } }
            }
            window.withUnsafeBufferPointer { win in
                tables.withUnsafeBufferPointer { lut in
                    guard let w = win.baseAddress, let t = lut.baseAddress, let o = out.baseAddress else { return }
                    for ch in 0..<c {
                        let table = t + ch * 256
                        for y in 0..<rows.count {
                            let src = w + y * wc * c + ch
                            let dst = o + ch * plane + (y + dy) * ow + dx
                            for x in 0..<wc { dst[x] = table[Int(src[x &* c])] }
                        }
                    }
                }
            }
        case .float32(let source):
            let converted = Preprocessing.convert(source, from: image.channels, to: c)
            let window = PillowResample.resize(converted, inWidth: image.width, inHeight: image.height, channels: c,
                                               outWidth: rw, outHeight: rh, rows: rows, cols: cols)
            if padded {
                for ch in 0..<c { for i in 0..<plane { out[ch * plane + i] = (0 - means[ch]) / stds[ch] } }
            }
            let wc = cols.count
            for y in 0..<rows.count {
                for x in 0..<wc {
                    for ch in 0..<c {
                        out[ch * plane + (y + dy) * ow + x + dx] = (window[(y * wc + x) * c + ch] - means[ch]) / stds[ch]
                    }
                }
            }
        }
    }

    /// torchvision CenterCrop's top/left offset: `int(round((size - cropSize) / 2.0))` (Python's
    /// round-half-to-even); negative when the crop is larger and the image is padded by
    /// `(cropSize - size) // 2` before it.
    static func cropOffset(_ size: Int, _ cropSize: Int) -> Int {
        if cropSize > size { return -((cropSize - size) / 2) }
        return Int((Double(size - cropSize) / 2).rounded(.toNearestOrEven))
    }

    private func perChannel(_ values: [Float], default value: Float, channels: Int, parameter: Parameter) throws -> [Float] {
        if values.isEmpty { return [Float](repeating: value, count: channels) }
        if values.count == 1 { return [Float](repeating: values[0], count: channels) }
        guard values.count == channels else {
            throw InputError.invalidParameter(parameter, "\(parameter.rawValue) has \(values.count) values but the images have \(channels) channels")
        }
        return values
    }

    /// Pillow's `convert`: grey → RGB replicate, RGBA → RGB drop alpha, RGB(A) → L with ITU-R 601-2
    /// luma in Pillow's fixed point.
    static func convert(_ src: [UInt8], from: Int, to: Int) -> [UInt8] {
        if from == to { return src }
        let n = src.count / from
        var out = [UInt8](repeating: 0, count: n * to)
        src.withUnsafeBufferPointer { s in
            out.withUnsafeMutableBufferPointer { o in
                for i in 0..<n {
                    if from == 1 {
                        for ch in 0..<to { o[i * to + ch] = s[i] }
                    } else if to == 1 {
                        let r = UInt32(s[i * from]), g = UInt32(s[i * from + 1]), b = UInt32(s[i * from + 2])
                        o[i] = UInt8(truncatingIfNeeded: (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16)
                    } else {
                        for ch in 0..<min(to, from) { o[i * to + ch] = s[i * from + ch] }
                    }
                }
            }
        }
        return out
    }

    /// Float counterpart of `convert` (same weights, no rounding).
    static func convert(_ src: [Float], from: Int, to: Int) -> [Float] {
        if from == to { return src }
        let n = src.count / from
        var out = [Float](repeating: 0, count: n * to)
        for i in 0..<n {
            if from == 1 {
                for ch in 0..<to { out[i * to + ch] = src[i] }
            } else if to == 1 {
                out[i] = src[i * from] * 0.299 + src[i * from + 1] * 0.587 + src[i * from + 2] * 0.114
            } else {
                for ch in 0..<min(to, from) { out[i * to + ch] = src[i * from + ch] }
            }
        }
        return out
    }
}
