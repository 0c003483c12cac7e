import CImageCodecs
import Foundation
import Testing
@testable import CNN
@testable import Core
@testable import ImageIO
@testable import PFV

/// Decodes PNG bytes with libspng (a standard decoder independent of the encoder's code path)
/// into (width, height, channels, 8-bit pixels).
func decodePNG(_ data: Data) throws -> (Int, Int, Int, [UInt8]) {
    guard let ctx = spng_ctx_new(0) else { throw InputError.invalidInput("no decoder") }
    defer { spng_ctx_free(ctx) }
    return try data.withUnsafeBytes { raw in
        guard spng_set_png_buffer(ctx, raw.baseAddress, raw.count) == 0 else { throw InputError.invalidInput("buffer") }
        var ihdr = spng_ihdr()
        guard spng_get_ihdr(ctx, &ihdr) == 0 else { throw InputError.invalidInput("header") }
        let grey = ihdr.color_type == UInt8(SPNG_COLOR_TYPE_GRAYSCALE.rawValue)
        let fmt = Int32(grey ? SPNG_FMT_G8.rawValue : SPNG_FMT_RGB8.rawValue)
        var size = 0
        guard spng_decoded_image_size(ctx, fmt, &size) == 0 else { throw InputError.invalidInput("size") }
        var out = [UInt8](repeating: 0, count: size)
        guard spng_decode_image(ctx, &out, size, fmt, 0) == 0 else { throw InputError.invalidInput("decode") }
        return (Int(ihdr.width), Int(ihdr.height), grey ? 1 : 3, out)
    }
}

@Suite("Exemplar patches and PNG")
struct PatchTests {
    /// Box rule worked by hand: |map| = 5, 3, 1, 1 (total 10); 90 % = 9 is reached by the 5, 3
    /// and the first 1 in row-major order, so the box spans those three pixels.
    @Test func boxRuleByHand() throws {
        var map = [Float](repeating: 0, count: 6 * 8)
        map[1 * 8 + 2] = 5; map[4 * 8 + 6] = -3; map[2 * 8 + 1] = 1; map[5 * 8 + 7] = 1
        let box = try PatchBox.covering(map, height: 6, width: 8, mass: 0.9)
        #expect(box == PatchBox(top: 1, left: 1, height: 4, width: 6))
        #expect(try PatchBox.covering(map, height: 6, width: 8, mass: 0.5) == PatchBox(top: 1, left: 2, height: 1, width: 1))
        #expect(try PatchBox.covering(map, height: 6, width: 8, mass: 1) == PatchBox(top: 1, left: 1, height: 5, width: 7))
        #expect(try PatchBox.covering([Float](repeating: 0, count: 48), height: 6, width: 8) == PatchBox(top: 0, left: 0, height: 6, width: 8))
        #expect(throws: PFVError.self) { try PatchBox.covering(map, height: 6, width: 8, mass: 1.5) }
    }

    /// Grey and RGB images survive PNG encode → libspng decode unchanged.
    @Test func pngRoundTrip() throws {
        for channels in [1, 3] {
            let pixels = (0..<(7 * 5 * channels)).map { UInt8(($0 * 37) % 256) }
            let data = try PNGEncoder.encode(width: 7, height: 5, channels: channels, pixels: pixels)
            let (w, h, c, px) = try decodePNG(data)
            #expect(w == 7 && h == 5 && c == channels && px == pixels)
        }
        #expect(throws: InputError.self) { try PNGEncoder.encode(width: 2, height: 2, channels: 2, pixels: [0, 0, 0, 0, 0, 0, 0, 0]) }
    }

    /// End to end on the small ResNet: the patch PNG is written, decodes with the box's size,
    /// the box lies inside the image and the pixels are the un-normalised image's.
    @Test func erfReportWritesADecodablePatch() throws {
        let model = try Model.load(path: fixturePath("small_resnet/legacy_folded.onnx"))
        let norm = try ImageNormalization(mean: [0.5, 0.4, 0.3], std: [0.2, 0.25, 0.3])
        var raw = randomImages(2, 3, 32, 32, seed: 30, lo: 0, hi: 1)
        let normalised = raw
        for i in 0..<raw.count { let c = (i / 1024) % 3; raw.data[i] = normalised.data[i] * norm.std[c] + norm.mean[c] }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pfv-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for overlay in [false, true] {
            var req = ERFRequest(layer: "/block1/relu_1/Relu_output_0", imageIndex: 1, position: PFVPosition(h: 6, w: 9))
            req.normalization = norm
            req.overlay = overlay
            req.patchPath = dir.appendingPathComponent("patch-\(overlay).png").path
            let report = try ERFReport.run(model: model, images: normalised, request: req)
            #expect(report.method == .srd && report.warnings.isEmpty)
            let b = report.patch.box
            #expect(b.top >= 0 && b.left >= 0 && b.top + b.height <= 32 && b.left + b.width <= 32 && b.height > 0 && b.width > 0)
            let (w, h, c, px) = try decodePNG(try Data(contentsOf: URL(fileURLWithPath: try #require(req.patchPath))))
            #expect(w == b.width && h == b.height && c == 3)
            if !overlay {
                // Top-left pixel of the crop is the raw image's pixel at the box corner.
                for ch in 0..<3 {
                    let v = min(max(raw.data[((1 * 3 + ch) * 32 + b.top) * 32 + b.left], 0), 1)
                    #expect(abs(Int(px[ch]) - Int((v * 255).rounded())) <= 1)
                }
            }
        }
        // Written through a temporary file and a rename: only the two PNGs are left.
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        #expect(left == ["patch-false.png", "patch-true.png"])
    }

    /// A given box is cropped from the un-normalised image; a box reaching outside is refused.
    @Test func cropGivenBox() throws {
        let norm = try ImageNormalization(mean: [0.5], std: [0.25])
        var image = Tensor(shape: [1, 1, 3, 4])
        for k in 0..<12 { image.data[k] = (Float(k * 20) / 255 - 0.5) / 0.25 }
        let patch = try ExemplarPatch(image: image, box: PatchBox(top: 1, left: 2, height: 2, width: 2), normalization: norm)
        #expect(patch.width == 2 && patch.height == 2 && patch.channels == 1)
        #expect(patch.pixels == [120, 140, 200, 220])
        #expect(throws: PFVError.self) { try ExemplarPatch(image: image, box: PatchBox(top: 2, left: 0, height: 2, width: 1)) }
        #expect(throws: PFVError.self) { try ExemplarPatch(image: image, box: PatchBox(top: 0, left: -1, height: 1, width: 1)) }
    }
}
