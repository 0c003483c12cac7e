import Foundation
import ImageIO

/// PNG plots of an `EvaluationReport` (METHOD §8), drawn into an RGB raster and written with the
/// PNG encoder. Per block: `<stem>-<n>-curves.png`, deletion (left) and insertion (right) panels,
/// x = share of concepts removed/added 0…1, y = normalised target 0…1.2 (grid line at 1);
/// grey band = the random orders' range, grey line = their mean, blue = GIG, orange = mean edge,
/// green = code magnitude, purple = gradient × activation. For class targets also
/// `<stem>-<n>-classes.png`: per class, GIG (blue) and random (grey) deletion AUC bars.
///
/// ```swift
/// let files = try EvaluationPlots.write(report, stem: "eval/demo")
/// ```
public enum EvaluationPlots {
    static let colours: [[UInt8]] = [[31, 119, 180], [255, 127, 14], [44, 160, 44], [148, 103, 189], [110, 110, 110]]

    /// Writes the plots and returns their paths.
    public static func write(_ report: EvaluationReport, stem: String) throws -> [String] {
        var written = [String]()
        for (n, block) in report.blocks.enumerated() {
            let base = "\(stem)-\(n)"
            var canvas = Canvas(width: 820, height: 360)
            for (panel, deletion) in [true, false].enumerated() {
                let frame = (x: 30 + panel * 400, y: 20, w: 360, h: 310)
                canvas.axes(frame)
                let band = deletion ? block.randomDeletionBand : block.randomInsertionBand
                if band.count == 2 { canvas.band(frame, low: band[0], high: band[1], colour: [215, 215, 215]) }
                canvas.axes(frame)
                for (o, order) in block.orders.enumerated().reversed() {
                    canvas.curve(frame, deletion ? order.deletionCurve : order.insertionCurve, colour: colours[o % colours.count], thick: o == 0)
                }
            }
            let curves = base + "-curves.png"
            try canvas.write(to: curves)
            written.append(curves)
            if !block.classes.isEmpty {
                var bars = Canvas(width: 60 + 50 * block.classes.count, height: 260)
                let frame = (x: 30, y: 20, w: 50 * block.classes.count, h: 210)
                bars.axes(frame)
                for (i, row) in block.classes.enumerated() {
                    bars.bar(frame, slot: i, of: block.classes.count, side: 0, value: row.gigDeletion, colour: colours[0])
                    bars.bar(frame, slot: i, of: block.classes.count, side: 1, value: row.randomDeletion, colour: colours[4])
                }
                let path = base + "-classes.png"
                try bars.write(to: path)
                written.append(path)
            }
        }
        return written
    }

    /// A white RGB raster with the few primitives the plots need. y values map 0…1.2 to the frame.
    struct Canvas {
        let width: Int, height: Int
        var pixels: [UInt8]
        static let top = 1.2

        init(width: Int, height: Int) {
            self.width = width
            self.height = height
            pixels = [UInt8](repeating: 255, count: width * height * 3)
        }

        mutating func set(_ x: Int, _ y: Int, _ c: [UInt8]) {
            guard x >= 0, x < width, y >= 0, y < height else { return }
            let i = (y * width + x) * 3
            pixels[i] = c[0]; pixels[i + 1] = c[1]; pixels[i + 2] = c[2]
        }

        func py(_ frame: (x: Int, y: Int, w: Int, h: Int), _ v: Double) -> Int {
            let clipped = min(max(v, -0.1), Self.top)
            return frame.y + frame.h - Int((clipped / Self.top * Double(frame.h)).rounded())
        }

        mutating func axes(_ f: (x: Int, y: Int, w: Int, h: Int)) {
            for x in f.x...(f.x + f.w) { set(x, f.y + f.h, [0, 0, 0]) }
            for y in f.y...(f.y + f.h) { set(f.x, y, [0, 0, 0]) }
            let one = py(f, 1)
            for x in stride(from: f.x, through: f.x + f.w, by: 4) { set(x, one, [150, 150, 150]) }
        }

        mutating func line(_ x0: Int, _ y0: Int, _ x1: Int, _ y1: Int, _ c: [UInt8], thick: Bool) {
            let steps = max(abs(x1 - x0), abs(y1 - y0), 1)
            for s in 0...steps {
                let x = x0 + (x1 - x0) * s / steps, y = y0 + (y1 - y0) * s / steps
                set(x, y, c)
                if thick { set(x, y + 1, c); set(x + 1, y, c); set(x, y - 1, c) }
            }
        }

        mutating func curve(_ f: (x: Int, y: Int, w: Int, h: Int), _ values: [Double], colour: [UInt8], thick: Bool) {
            guard values.count > 1 else { return }
            for j in 0..<(values.count - 1) {
                let x0 = f.x + f.w * j / (values.count - 1), x1 = f.x + f.w * (j + 1) / (values.count - 1)
                line(x0, py(f, values[j]), x1, py(f, values[j + 1]), colour, thick: thick)
            }
        }

        mutating func band(_ f: (x: Int, y: Int, w: Int, h: Int), low: [Double], high: [Double], colour: [UInt8]) {
            guard low.count == high.count, low.count > 1 else { return }
            for x in f.x...(f.x + f.w) {
                let t = Double(x - f.x) / Double(f.w) * Double(low.count - 1)
                let j = min(Int(t), low.count - 2), a = t - Double(j)
                let lo = low[j] * (1 - a) + low[j + 1] * a, hi = high[j] * (1 - a) + high[j + 1] * a
                for y in py(f, hi)...max(py(f, hi), py(f, lo)) { set(x, y, colour) }
            }
        }

        mutating func bar(_ f: (x: Int, y: Int, w: Int, h: Int), slot: Int, of count: Int, side: Int, value: Double, colour: [UInt8]) {
            let slotWidth = f.w / max(count, 1), x0 = f.x + slot * slotWidth + 6 + side * (slotWidth - 12) / 2
            let x1 = x0 + (slotWidth - 12) / 2 - 1, top = py(f, value), bottom = f.y + f.h - 1
            guard top <= bottom else { return }
            for x in x0...max(x0, x1) { for y in top...bottom { set(x, y, colour) } }
        }

        func write(to path: String) throws {
            try PNGEncoder.write(width: width, height: height, channels: 3, pixels: pixels, to: path)
        }
    }
}
