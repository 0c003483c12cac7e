import CImageCodecs
import Core
import Foundation

/// Encodes 8-bit grey or RGB pixels as PNG with libspng, and writes PNG files atomically.
public enum PNGEncoder {
    /// `pixels` row-major, interleaved, `width·height·channels` bytes; `channels` 1 (grey) or 3 (RGB).
    public static func encode(width: Int, height: Int, channels: Int, pixels: [UInt8]) throws -> Data {
        guard width > 0, height > 0, channels == 1 || channels == 3, pixels.count == width * height * channels else {
            throw InputError.invalidInput("PNG encoder: \(width)×\(height)×\(channels) image with \(pixels.count) bytes (needs width, height > 0, 1 or 3 channels)")
        }
        func fail(_ what: String, _ code: Int32) -> InputError {
            let reason = spng_strerror(code).map { String(cString: $0) } ?? "error \(code)"
            return InputError.invalidInput("cannot encode PNG (\(what)): \(reason)")
        }
        guard let ctx = spng_ctx_new(Int32(SPNG_CTX_ENCODER.rawValue)) else {
            throw InputError.invalidInput("cannot allocate a PNG encoder")
        }
        defer { spng_ctx_free(ctx) }
        var code = spng_set_option(ctx, SPNG_ENCODE_TO_BUFFER, 1)
        guard code == 0 else { throw fail("option", code) }
        var ihdr = spng_ihdr()
        ihdr.width = UInt32(width)
        ihdr.height = UInt32(height)
        ihdr.bit_depth = 8
        ihdr.color_type = UInt8(channels == 1 ? SPNG_COLOR_TYPE_GRAYSCALE.rawValue : SPNG_COLOR_TYPE_TRUECOLOR.rawValue)
        code = spng_set_ihdr(ctx, &ihdr)
        guard code == 0 else { throw fail("header", code) }
        code = pixels.withUnsafeBytes { raw in
            spng_encode_image(ctx, raw.baseAddress, raw.count, Int32(SPNG_FMT_PNG.rawValue), Int32(SPNG_ENCODE_FINALIZE.rawValue))
        }
        guard code == 0 else { throw fail("data", code) }
        var length = 0
        var error: Int32 = 0
        guard let buffer = spng_get_png_buffer(ctx, &length, &error), error == 0 else { throw fail("buffer", error) }
        defer { free(buffer) }
        return Data(bytes: buffer, count: length)
    }

    /// Encodes and writes to `path` through a temporary file and a rename.
    public static func write(width: Int, height: Int, channels: Int, pixels: [UInt8], to path: String) throws {
        try AtomicFile.write(try encode(width: width, height: height, channels: channels, pixels: pixels), to: path)
    }
}
