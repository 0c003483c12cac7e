import CZlib
import Core
import Foundation

/// Whole-file reading of gzip-compressed files through zlib (`gzread` also passes plain files
/// through unchanged).
enum Gzip {
    /// Decompresses `path` into memory; throws `CNNError` naming the file on a read or data error.
    static func read(path: String) throws -> Data {
        guard FileManager.default.fileExists(atPath: path) else { throw CNNError.fileNotFound(path) }
        guard let file = gzopen(path, "rb") else {
            throw CNNError.corruptFile(path: path, reason: "cannot be opened")
        }
        defer { gzclose(file) }
        var result = Data()
        let chunk = 1 << 20
        var buffer = [UInt8](repeating: 0, count: chunk)
        while true {
            let n = buffer.withUnsafeMutableBytes { gzread(file, $0.baseAddress, UInt32(chunk)) }
            if n < 0 {
                var code: Int32 = 0
                let message = gzerror(file, &code).map { String(cString: $0) } ?? "error \(code)"
                throw CNNError.corruptFile(path: path, reason: "gzip data is corrupt (\(message))")
            }
            if n == 0 { break }
            result.append(contentsOf: buffer[0..<Int(n)])
        }
        return result
    }

    /// The file's bytes: decompressed when it starts with the gzip magic, memory-mapped otherwise.
    static func readMaybeCompressed(path: String) throws -> Data {
        let data = try AtomicFile.read(path)
        if data.count >= 2, data[data.startIndex] == 0x1F, data[data.startIndex + 1] == 0x8B {
            return try read(path: path)
        }
        return data
    }
}

extension Gzip {
    /// The first `count` bytes of `path`, decompressed if it is gzip (plain files pass through).
    static func readPrefix(path: String, count: Int) throws -> [UInt8] {
        guard let file = gzopen(path, "rb") else { throw CNNError.corruptFile(path: path, reason: "cannot be opened") }
        defer { gzclose(file) }
        var buffer = [UInt8](repeating: 0, count: count)
        let n = buffer.withUnsafeMutableBytes { gzread(file, $0.baseAddress, UInt32(count)) }
        return n > 0 ? Array(buffer[0..<Int(n)]) : []
    }
}
