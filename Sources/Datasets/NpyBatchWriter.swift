import Core
import Foundation

/// Writes a float32 `.npy` of N×C×H×W one batch at a time, so exporting a dataset needs memory for
/// one batch only. The payload goes to a hidden temporary file beside `path`; `finish()` prefixes
/// the header (N is only known at the end when bad images are skipped) into a second temporary
/// file and renames it over `path`. Without `finish()` (an error), `path` is left untouched.
public final class NpyBatchWriter {
    public let path: String
    private let bodyPath: String
    private let body: FileHandle
    private var imageShape: [Int]?
    private var count = 0

    public init(path: String) throws {
        self.path = path
        let url = URL(fileURLWithPath: path)
        let folder = url.deletingLastPathComponent().path
        // A killed export leaves its .body/.tmp files; the next export to the same path removes them.
        TemporaryFiles.removeStale(besides: path)
        bodyPath = TemporaryFiles.path(besides: path, suffix: "body")
        guard FileManager.default.createFile(atPath: bodyPath, contents: nil),
              let handle = FileHandle(forWritingAtPath: bodyPath) else {
            throw InputError.invalidInput("cannot write \(path): folder \(folder) does not exist or is not writable")
        }
        body = handle
    }

    deinit {
        try? body.close()
        try? FileManager.default.removeItem(atPath: bodyPath)
    }

    /// Appends the images of `batch` (N×C×H×W); every batch must share C×H×W.
    public func append(_ batch: Tensor) throws {
        guard batch.rank == 4 else { throw DatasetError.shapeMismatch("expected an N×C×H×W batch, got \(batch.shape)") }
        let inner = Array(batch.shape.dropFirst())
        if let imageShape, imageShape != inner {
            throw DatasetError.shapeMismatch("batch images \(inner) differ from earlier \(imageShape)")
        }
        imageShape = inner
        count += batch.shape[0]
        do {
            try batch.data.withUnsafeBufferPointer { try body.write(contentsOf: Data(buffer: $0)) }
        } catch {
            throw InputError.invalidInput("cannot write \(path): \(AtomicFile.reason(error))")
        }
    }

    /// Writes the header and renames the finished file to `path`; `emptyShape` is the C×H×W
    /// recorded when no image was appended. Returns the array's shape.
    @discardableResult
    public func finish(emptyShape: [Int] = [0, 0, 0]) throws -> [Int] {
        try body.close()
        let shape = [count] + (imageShape ?? emptyShape)
        try AtomicFile.write(to: path) { temp in
            guard FileManager.default.createFile(atPath: temp.path, contents: nil) else {
                throw InputError.invalidInput("cannot write \(path): cannot create \(temp.path)")
            }
            let out = try FileHandle(forWritingTo: temp)
            try out.write(contentsOf: Npy.encode(descr: "<f4", shape: shape, body: Data()))
            let input = try FileHandle(forReadingFrom: URL(fileURLWithPath: bodyPath))
            while let chunk = try input.read(upToCount: 1 << 22), !chunk.isEmpty { try out.write(contentsOf: chunk) }
            try input.close()
            try out.close()
        }
        return shape
    }
}
