import Foundation

/// Writes files so that an interrupted run never leaves a half-written output: the bytes go to a
/// temporary file beside the destination, which is then renamed over it (atomic on POSIX).
public enum AtomicFile {
    /// Writes `data` to `path` via a temporary sibling and a rename. Throws `CNNError.invalidInput`
    /// naming the path when the folder does not exist or is not writable.
    public static func write(_ data: Data, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        let folder = url.deletingLastPathComponent().path
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDir), isDir.boolValue else {
            throw CNNError.invalidInput("cannot write \(path): folder \(folder) does not exist")
        }
        let temp = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).\(ProcessInfo.processInfo.processIdentifier).tmp")
        do {
            try data.write(to: temp)
            // POSIX rename replaces an existing destination atomically (Foundation's replaceItemAt
            // fails on Linux when the destination exists).
            if rename(temp.path, path) != 0 {
                throw CNNError.invalidInput("cannot write \(path): \(String(cString: strerror(errno)))")
            }
        } catch let error as CNNError {
            try? FileManager.default.removeItem(at: temp)
            throw error
        } catch {
            try? FileManager.default.removeItem(at: temp)
            throw CNNError.invalidInput("cannot write \(path): \(error.localizedDescription)")
        }
    }

    /// Reads a whole file; throws `CNNError.fileNotFound` or `.corruptFile` naming the path.
    public static func read(_ path: String) throws -> Data {
        guard FileManager.default.fileExists(atPath: path) else { throw CNNError.fileNotFound(path) }
        do {
            return try Data(contentsOf: URL(fileURLWithPath: path), options: .mappedIfSafe)
        } catch {
            throw CNNError.corruptFile(path: path, reason: "cannot be read (\(error.localizedDescription))")
        }
    }
}
