import Foundation

/// The one rule for files a command writes, checked before any work starts: the folder exists
/// (or is created), the path is not a folder, and an existing file is replaced only when the
/// caller passed `force` (the `--force` flag of every command that writes).
///
///     try OutputPath.check("graph.dot", force: false)        // throws if graph.dot exists
///     try OutputPath.prepareFolder("maps/")                   // creates maps/ if needed
public enum OutputPath {
    /// Throws a one-line error naming `path` unless a file can be written there.
    /// With `createFolder`, a missing parent folder is created.
    public static func check(_ path: String, force: Bool, createFolder: Bool = false) throws {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        if fm.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard !isDirectory.boolValue else {
                throw InputError.invalidInput("cannot write \(path): it is a folder; name a file")
            }
            guard force else { throw InputError.outputExists(path) }
        }
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        if createFolder {
            try prepareFolder(folder)
        } else {
            guard fm.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw InputError.invalidInput("cannot write \(path): folder \(folder) does not exist")
            }
        }
    }

    /// Makes sure `folder` exists as a writable folder, creating it (and its parents) if needed.
    public static func prepareFolder(_ folder: String) throws {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        if fm.fileExists(atPath: folder, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw InputError.invalidInput("cannot write into \(folder): it is a file, not a folder") }
        } else {
            do {
                try fm.createDirectory(atPath: folder, withIntermediateDirectories: true)
            } catch {
                throw InputError.invalidInput("cannot create folder \(folder): \(error.localizedDescription)")
            }
        }
        guard fm.isWritableFile(atPath: folder) else { throw InputError.invalidInput("cannot write into folder \(folder): permission denied") }
    }
}
