import CZlib
import Core
import Foundation

/// Streaming reads of gzip-compressed files through zlib (`gzread` also passes plain files
/// through unchanged). Reads stop at a byte limit, so a small file that inflates to gigabytes
/// (a "gzip bomb") costs no more memory than the limit.
enum Gzip {
    /// Decompresses at most `limit` bytes of `path` into memory (fewer when the stream ends first);
    /// throws an `InputError` naming the file on a read or data error, or when `limit` is above
    /// `SizeLimits.maxInflatedBytes`.
    static func read(path: String, limit: Int, limits: SizeLimits = .current) throws -> Data {
        guard FileManager.default.fileExists(atPath: path) else { throw InputError.fileNotFound(path) }
        guard limit <= limits.maxInflatedBytes else {
            throw InputError.corruptFile(path: path, reason: "would inflate to \(limit) bytes, above the limit of \(limits.maxInflatedBytes) (raise it with GIGTRACE_MAX_INFLATED_BYTES)")
        }
        guard let file = gzopen(path, "rb") else {
            throw InputError.corruptFile(path: path, reason: "cannot be opened")
        }
        defer { gzclose(file) }
        var result = Data()
        let chunk = 1 << 20
        var buffer = [UInt8](repeating: 0, count: chunk)
        while result.count < limit {
            let want = UInt32(min(chunk, limit - result.count))
            let n = buffer.withUnsafeMutableBytes { gzread(file, $0.baseAddress, want) }
            if n < 0 {
                var code: Int32 = 0
                let message = gzerror(file, &code).map { String(cString: $0) } ?? "error \(code)"
                throw InputError.corruptFile(path: path, reason: "gzip data is corrupt (\(message))")
            }
            if n == 0 { break }
            result.append(contentsOf: buffer[0..<Int(n)])
        }
        return result
    }

    /// The file's bytes: memory-mapped when plain; when it starts with the gzip magic, the first
    /// `prefix` inflated bytes are handed to `size`, which returns how many bytes the whole content
    /// needs (from the header they hold), and only that many are inflated.
    static func readMaybeCompressed(path: String, prefix: Int, size: (Data) throws -> Int) throws -> Data {
        let data = try AtomicFile.read(path)
        if data.count >= 2, data[data.startIndex] == 0x1F, data[data.startIndex + 1] == 0x8B {
            let head = try read(path: path, limit: prefix)
            return try read(path: path, limit: size(head))
        }
        return data
    }
}

extension Gzip {
    /// The first `count` bytes of `path`, decompressed if it is gzip (plain files pass through).
    static func readPrefix(path: String, count: Int) throws -> [UInt8] {
        guard let file = gzopen(path, "rb") else { throw InputError.corruptFile(path: path, reason: "cannot be opened") }
        defer { gzclose(file) }
        var buffer = [UInt8](repeating: 0, count: count)
        let n = buffer.withUnsafeMutableBytes { gzread(file, $0.baseAddress, UInt32(count)) }
        return n > 0 ? Array(buffer[0..<Int(n)]) : []
    }
}
