import ArgumentParser
import CommandLineSupport
import CImageCodecs
import CZlib
import Foundation
import GIGTrace
import Testing
@testable import CLI
@testable import Core
@testable import PFV

/// `gigtrace erf` end to end on the demo model and the Fashion-MNIST test set, through its
/// argument parsing: the map, the PNGs (decoded with libspng) and the bad-input messages.
@Suite struct ERFCommandTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let model = root.appendingPathComponent("models/fashion-resnet/model.onnx").path
    static let images = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"
    static let stage1 = "/stage1/relu/Relu_output_0"
    let dir: String

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("erf-cli-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    func command(_ extra: [String], layer: String = stage1, image: Int = 3, position: String = "10,12") throws -> ERFCommand {
        try ERFCommand.parse(["--model", Self.model, "--data", Self.images, "--mean", "0.2860", "--std", "0.3530",
                              "--layer", layer, "--image=\(image)", "--position", position, "--out", "\(dir)/erf.npy", "--quiet"] + extra)
    }

    /// The error message `compute()` throws for a bad flag.
    func message(_ c: ERFCommand) -> String {
        do { try c.compute() } catch { return commandLineMessage(error) }
        return "no error"
    }

    /// Decodes a PNG file with libspng to 8-bit grey or RGB: (width, height, channels, pixels).
    func decodePNG(_ path: String) throws -> (Int, Int, Int, [UInt8]) {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let ctx = try #require(spng_ctx_new(0))
        defer { spng_ctx_free(ctx) }
        return try data.withUnsafeBytes { raw in
            try #require(spng_set_png_buffer(ctx, raw.baseAddress, raw.count) == 0)
            var ihdr = spng_ihdr()
            try #require(spng_get_ihdr(ctx, &ihdr) == 0)
            let grey = ihdr.color_type == UInt8(SPNG_COLOR_TYPE_GRAYSCALE.rawValue)
            let fmt = Int32(grey ? SPNG_FMT_G8.rawValue : SPNG_FMT_RGB8.rawValue)
            var size = 0
            try #require(spng_decoded_image_size(ctx, fmt, &size) == 0)
            var out = [UInt8](repeating: 0, count: size)
            try #require(spng_decode_image(ctx, &out, size, fmt, 0) == 0)
            return (Int(ihdr.width), Int(ihdr.height), grey ? 1 : 3, out)
        }
    }

    /// Raw 8-bit pixels of test image `n` (28×28), read with zlib independently of the dataset code.
    func rawImage(_ n: Int) throws -> [UInt8] {
        let file = try #require(gzopen(Self.images, "rb"))
        defer { gzclose(file) }
        var buffer = [UInt8](repeating: 0, count: 16 + (n + 1) * 784)
        let got = buffer.withUnsafeMutableBytes { gzread(file, $0.baseAddress, UInt32($0.count)) }
        try #require(Int(got) == buffer.count)
        return Array(buffer[(16 + n * 784)...])
    }

    /// The iERF of a stage-1 PFV: a 28×28 map (input resolution) of mass ≈ 1 supported inside the
    /// PFV's 7×7 theoretical receptive field (three 3×3 convs); the map PNG and the patch PNG decode,
    /// the patch is the box covering 90 % of |map| and shows the raw image's pixels.
    @Test func srdMapAndPNGs() throws {
        try command(["--png", "\(dir)/erf.png", "--patch", "\(dir)/patch.png"]).compute()
        let map = try Npy.read(path: "\(dir)/erf.npy").floatTensor(path: "erf.npy")
        #expect(map.shape == [28, 28])
        var outside: Float = 0, total: Float = 0
        for r in 0..<28 { for c in 0..<28 {
            let v = map.data[r * 28 + c]
            total += v
            if abs(r - 10) > 3 || abs(c - 12) > 3 { outside += abs(v) }
        } }
        #expect(outside == 0)
        #expect(abs(total - 1) < 0.05)

        let (w, h, ch, px) = try decodePNG("\(dir)/erf.png")
        #expect(w == 28 && h == 28 && ch == 3 && px.count == 28 * 28 * 3)
        #expect(px.contains { $0 != 255 })

        let box = try PFV.PatchBox.covering(map.data, height: 28, width: 28, mass: 0.9)
        let (pw, ph, pc, patch) = try decodePNG("\(dir)/patch.png")
        #expect(pw == box.width && ph == box.height && pc == 1)
        #expect(box.top >= 7 && box.top + box.height <= 14 && box.left >= 9 && box.left + box.width <= 16)
        let raw = try rawImage(3)
        var worst = 0
        for r in 0..<ph {
            for c in 0..<pw {
                let shown = Int(patch[r * pw + c]), truth = Int(raw[(box.top + r) * 28 + box.left + c])
                worst = max(worst, abs(shown - truth))
            }
        }
        #expect(worst <= 1)
    }

    /// The gradient ERF is non-negative, at input resolution, inside the same window.
    @Test func gradientMap() throws {
        try command(["--method", "gradient"]).compute()
        let map = try Npy.read(path: "\(dir)/erf.npy").floatTensor(path: "erf.npy")
        #expect(map.shape == [28, 28])
        #expect(map.data.allSatisfy { $0 >= 0 } && map.data.contains { $0 > 0 })
        for r in 0..<28 { for c in 0..<28 where abs(r - 10) > 3 || abs(c - 12) > 3 { #expect(map.data[r * 28 + c] == 0) } }
    }

    /// Bad input: one clear error naming the valid range or the usable tensors; exit code 1 via `run()`.
    @Test func badInput() throws {
        let position = message(try command([], position: "28,3"))
        #expect(position.contains("0..<28") && position.contains(Self.stage1))
        let stage3 = message(try command([], layer: "/stage3/relu/Relu_output_0", position: "3,7"))
        #expect(stage3.contains("w in 0..<7"))
        let image = message(try command([], image: 10_000))
        #expect(image.contains("--image 10000") && image.contains("0..<10000"))
        let logits = message(try command([], layer: "logits"))
        #expect(logits.contains("not C×H×W") && logits.contains(Self.stage1) && logits.contains("/stage3/relu/Relu_output_0"))
        let form = message(try command([], position: "3"))
        #expect(form.contains("H,W"))
        // An unknown method is refused by the parser, which lists the choices.
        do {
            _ = try command(["--method", "lrp"])
            Issue.record("--method lrp was accepted")
        } catch {
            let method = ERFCommand.message(for: error)
            #expect(method.contains("'lrp'") && method.contains("'srd'") && method.contains("'gradient'"))
        }
        #expect(throws: ExitCode.self) { try command([], image: -1).run() }
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/erf.npy"))
    }
}
