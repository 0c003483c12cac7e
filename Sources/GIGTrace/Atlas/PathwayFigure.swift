import Core
import Foundation
import ImageIO
import PFV

/// An RGB canvas for figures the binary draws itself (PNG through libspng), with text in a
/// built-in 8×16 font (DejaVu Sans Mono Bold, pre-rasterised), so figures need no font files.
///
///     var canvas = RGBCanvas(width: 200, height: 40)
///     canvas.text("stage2:7", x: 4, y: 4)
///     try canvas.writePNG(to: "label.png")
public struct RGBCanvas: Sendable {
    public let width: Int
    public let height: Int
    /// Row-major interleaved RGB bytes.
    public private(set) var pixels: [UInt8]

    public init(width: Int, height: Int, background: (UInt8, UInt8, UInt8) = (255, 255, 255)) {
        self.width = max(width, 1)
        self.height = max(height, 1)
        pixels = [UInt8](repeating: 0, count: self.width * self.height * 3)
        for i in 0..<(self.width * self.height) {
            pixels[3 * i] = background.0; pixels[3 * i + 1] = background.1; pixels[3 * i + 2] = background.2
        }
    }

    public mutating func set(_ x: Int, _ y: Int, _ rgb: (UInt8, UInt8, UInt8)) {
        guard x >= 0, y >= 0, x < width, y < height else { return }
        let i = 3 * (y * width + x)
        pixels[i] = rgb.0; pixels[i + 1] = rgb.1; pixels[i + 2] = rgb.2
    }

    /// Draws `text` with its top-left corner at (x, y), blending the glyphs' coverage over the
    /// canvas; characters outside printable ASCII show as `?`.
    public mutating func text(_ text: String, x: Int, y: Int, colour: (UInt8, UInt8, UInt8) = (0, 0, 0)) {
        var cx = x
        for scalar in text.unicodeScalars {
            let code = (32...126).contains(scalar.value) ? Int(scalar.value) : 63
            let glyph = BitmapFont.glyphs[code - 32]
            for row in 0..<BitmapFont.height {
                for col in 0..<BitmapFont.width {
                    let a = Int(glyph[row * BitmapFont.width + col])
                    let (px, py) = (cx + col, y + row)
                    guard a > 0, px >= 0, py >= 0, px < width, py < height else { continue }
                    let i = 3 * (py * width + px)
                    func blend(_ under: UInt8, _ over: UInt8) -> UInt8 { UInt8((Int(under) * (255 - a) + Int(over) * a + 127) / 255) }
                    pixels[i] = blend(pixels[i], colour.0)
                    pixels[i + 1] = blend(pixels[i + 1], colour.1)
                    pixels[i + 2] = blend(pixels[i + 2], colour.2)
                }
            }
            cx += BitmapFont.width
        }
    }

    /// Pastes `source` (`[C, H, W]` in [0, 1], C = 1 or 3) cropped to `box`, scaled by nearest
    /// neighbour to fit a `size`×`size` square at (x, y), keeping the box's aspect ratio.
    public mutating func paste(_ source: Tensor, box: PatchBox, x: Int, y: Int, size: Int) {
        let (c, h, w) = (source.shape[0], source.shape[1], source.shape[2])
        let scale = Double(size) / Double(max(box.width, box.height, 1))
        let outW = max(1, Int((Double(box.width) * scale).rounded())), outH = max(1, Int((Double(box.height) * scale).rounded()))
        for oy in 0..<outH {
            for ox in 0..<outW {
                let sy = min(box.y0 + Int(Double(oy) / scale), h - 1), sx = min(box.x0 + Int(Double(ox) / scale), w - 1)
                let v = (0..<3).map { k -> UInt8 in
                    UInt8((min(max(source.data[(min(k, c - 1) * h + sy) * w + sx], 0), 1) * 255).rounded())
                }
                set(x + ox, y + oy, (v[0], v[1], v[2]))
            }
        }
    }

    public func writePNG(to path: String) throws {
        try PNGEncoder.write(width: width, height: height, channels: 3, pixels: pixels, to: path)
    }
}

/// The built-in font: 8×16 cells of coverage (glyphs in BitmapFont+Glyphs.swift, made by
/// tools/make_bitmap_font.py).
enum BitmapFont {
    static let width = 8
    static let height = 16
}

/// The README's pathway figure: one row per pathway into a class (as `query pathways`), each step
/// its concept's short name, the weight into it and its strongest exemplar patches (the input box
/// covering 90 % of the PFV's iERF, cut from the raw image), then the class with its weight.
///
///     let pathways = PathwayFinder.best(in: reader.graph, classIndex: 7, top: 3, group: .label(7))
///     try PathwayFigure(pathways: pathways, aliases: LayerAliases(layout: reader.layout))
///         .render(images: images).writePNG(to: "sneaker.png")
public struct PathwayFigure {
    public var pathways: [Pathway]
    public var aliases: LayerAliases
    /// Exemplar patches per step, their square size in pixels, and the text scale.
    public var exemplars = 3
    public var cell = 56

    public init(pathways: [Pathway], aliases: LayerAliases) {
        self.pathways = pathways
        self.aliases = aliases
    }

    public func render(images: AtlasImages) throws -> RGBCanvas {
        let pad = 8, line = BitmapFont.height + 4, charWidth = BitmapFont.width
        let stepCount = pathways.map(\.steps.count).max() ?? 0
        let labels = pathways.flatMap { $0.steps.map { stepLabel($0) } }
        let group = max(exemplars * (cell + 2), (labels.map(\.count).max() ?? 0) * charWidth) + 3 * pad
        let classLabels = pathways.map { "-> \($0.className) (w=\(String(format: "%.3f", $0.classWeight)))" }
        let width = pad + stepCount * group + (classLabels.map(\.count).max() ?? 0) * charWidth + pad
        let rowHeight = 2 * line + cell + 2 * pad
        var canvas = RGBCanvas(width: width, height: max(pad + pathways.count * rowHeight, line + 2 * pad))
        if pathways.isEmpty { canvas.text("no pathway with positive weights", x: pad, y: pad) }
        var cache: [Int: Tensor] = [:]
        for (row, path) in pathways.enumerated() {
            let y = pad + row * rowHeight
            canvas.text("#\(row + 1)  score \(String(format: "%.3f", path.score))", x: pad, y: y)
            for (s, step) in path.steps.enumerated() {
                let x = pad + s * group
                canvas.text(stepLabel(step), x: x, y: y + line, colour: (30, 30, 120))
                for (e, exemplar) in step.exemplars.prefix(exemplars).enumerated() {
                    if cache[exemplar.image] == nil { cache[exemplar.image] = try images.raw(exemplar.image) }
                    guard let image = cache[exemplar.image] else { continue }
                    canvas.paste(image, box: exemplar.box, x: x + e * (cell + 2), y: y + 2 * line, size: cell)
                }
            }
            canvas.text(classLabels[row], x: pad + stepCount * group, y: y + 2 * line + cell / 2 - line / 2,
                        colour: (140, 60, 0))
        }
        return canvas
    }

    func stepLabel(_ step: Pathway.Step) -> String {
        aliases.node(layer: step.layer, index: step.index) + "  " + (step.layer == 0 ? "start" : "w=" + String(format: "%.3f", step.weightIn))
    }
}
