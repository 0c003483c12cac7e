import CImageCodecs
import CJpegDecoder
import Core
import Foundation

/// Decodes JPEG (libjpeg-turbo) and PNG (libspng) files into `DecodedImage`s, recognising the
/// format by its magic bytes. Pixels come out as Pillow's `Image.open` would give them: JPEG as
/// grey or RGB with libjpeg's defaults; PNG as grey (8-bit grey), RGB (truecolour) or RGBA (other
/// colour types, palette expanded), 16-bit reduced to 8. Every failure is a `InputError.corruptFile`
/// naming the path — a corrupt file never ends the process. The size a header declares is checked
/// against `SizeLimits.maxImagePixels` before any pixel memory is allocated.
public enum ImageDecoder {
    /// Reads and decodes the file at `path`.
    public static func decode(path: String, limits: SizeLimits = .current) throws -> DecodedImage {
        let data = try AtomicFile.read(path)
        return try decode(data, path: path, limits: limits)
    }

    /// Decodes an in-memory file; `path` is only used in error messages.
    public static func decode(_ data: Data, path: String, limits: SizeLimits = .current) throws -> DecodedImage {
        guard !data.isEmpty else { throw InputError.corruptFile(path: path, reason: "empty file (0 bytes), not an image") }
        return try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> DecodedImage in
            let bytes = raw.bindMemory(to: UInt8.self)
            if bytes.count >= 3, bytes[0] == 0xFF, bytes[1] == 0xD8, bytes[2] == 0xFF {
                return try decodeJPEG(bytes, path: path, limits: limits)
            }
            if bytes.count >= 8, Array(bytes[0..<8]) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] {
                return try decodePNG(bytes, path: path, limits: limits)
            }
            throw InputError.corruptFile(path: path, reason: "neither a JPEG nor a PNG file (unrecognised magic bytes)")
        }
    }

    /// `InputError.corruptFile` for `path` when the header's size is above the pixel limit.
    static func checkSize(width: Int, height: Int, format: String, path: String, limits: SizeLimits) throws {
        do {
            try limits.checkImage(width: width, height: height, what: "\(format) header")
        } catch let error as InputError {
            throw InputError.corruptFile(path: path, reason: error.description)
        }
    }

    static func decodeJPEG(_ bytes: UnsafeBufferPointer<UInt8>, path: String, limits: SizeLimits) throws -> DecodedImage {
        var width: Int32 = 0, height: Int32 = 0, channels: Int32 = 0
        var message = [CChar](repeating: 0, count: 256)
        func fail() -> InputError {
            let reason = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            return InputError.corruptFile(path: path, reason: "cannot decode JPEG: \(reason)")
        }
        guard let jpeg = gig_jpeg_open(bytes.baseAddress, bytes.count, &width, &height, &channels, &message, message.count) else {
            throw fail()
        }
        do {
            try checkSize(width: Int(width), height: Int(height), format: "JPEG", path: path, limits: limits)
        } catch {
            gig_jpeg_free(jpeg)
            throw error
        }
        // Decoded straight into the array; gig_jpeg_read frees `jpeg` whatever happens.
        let count = Int(width) * Int(height) * Int(channels)
        var status: Int32 = 0
        let pixels = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialised in
            status = gig_jpeg_read(jpeg, buffer.baseAddress, &message, message.count)
            initialised = count
        }
        guard status == 0 else { throw fail() }
        return DecodedImage(width: Int(width), height: Int(height), channels: Int(channels), pixels: .uint8(pixels))
    }

    static func decodePNG(_ bytes: UnsafeBufferPointer<UInt8>, path: String, limits: SizeLimits) throws -> DecodedImage {
        func fail(_ what: String, _ code: Int32) -> InputError {
            let reason = spng_strerror(code).map { String(cString: $0) } ?? "error \(code)"
            return InputError.corruptFile(path: path, reason: "cannot decode PNG (\(what)): \(reason)")
        }
        guard let ctx = spng_ctx_new(0) else { throw InputError.invalidInput("\(path): cannot allocate a PNG decoder") }
        defer { spng_ctx_free(ctx) }
        var code = spng_set_png_buffer(ctx, bytes.baseAddress, bytes.count)
        guard code == 0 else { throw fail("buffer", code) }
        var ihdr = spng_ihdr()
        code = spng_get_ihdr(ctx, &ihdr)
        guard code == 0 else { throw fail("header", code) }
        try checkSize(width: Int(ihdr.width), height: Int(ihdr.height), format: "PNG", path: path, limits: limits)
        let grey = ihdr.color_type == UInt8(SPNG_COLOR_TYPE_GRAYSCALE.rawValue) && ihdr.bit_depth <= 8
        let rgb = ihdr.color_type == UInt8(SPNG_COLOR_TYPE_TRUECOLOR.rawValue)
        let format = Int32(grey ? SPNG_FMT_G8.rawValue : rgb ? SPNG_FMT_RGB8.rawValue : SPNG_FMT_RGBA8.rawValue)
        let channels = grey ? 1 : rgb ? 3 : 4
        var size = 0
        code = spng_decoded_image_size(ctx, format, &size)
        guard code == 0 else { throw fail("size", code) }
        let width = Int(ihdr.width), height = Int(ihdr.height)
        guard size == width * height * channels else {
            throw InputError.corruptFile(path: path, reason: "PNG decoded size \(size) does not match \(width)×\(height)×\(channels)")
        }
        var status: Int32 = 0
        let pixels = [UInt8](unsafeUninitializedCapacity: size) { buffer, initialised in
            status = spng_decode_image(ctx, buffer.baseAddress, size, format, 0)
            initialised = size
        }
        guard status == 0 else { throw fail("data", status) }
        return DecodedImage(width: width, height: height, channels: channels, pixels: .uint8(pixels))
    }
}
