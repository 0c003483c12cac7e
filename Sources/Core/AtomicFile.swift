import Foundation

/// Writes files so that an interrupted run never leaves a half-written output: the bytes go to a
/// temporary file beside the destination, which is then renamed over it (atomic on POSIX).
public enum AtomicFile {
    /// Writes `data` to `path` via a temporary sibling and a rename. Throws `InputError.invalidInput`
    /// naming the path when the folder does not exist or is not writable.
    public static func write(_ data: Data, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        let folder = url.deletingLastPathComponent().path
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDir), isDir.boolValue else {
            throw InputError.invalidInput("cannot write \(path): folder \(folder) does not exist")
        }
        TemporaryFiles.removeStale(besides: path)
        try write(to: path) { temp in try data.write(to: temp) }
    }

    /// Writes `path` through `fill`, which writes the whole file at the temporary sibling URL it is
    /// given; the temporary file is then renamed over `path`, or removed when anything fails.
    ///
    ///     try AtomicFile.write(to: "x.npy") { temp in try header.write(to: temp) }
    public static func write(to path: String, _ fill: (URL) throws -> Void) throws {
        let temp = URL(fileURLWithPath: TemporaryFiles.path(besides: path, suffix: "tmp"))
        do {
            try fill(temp)
            // POSIX rename replaces an existing destination atomically (Foundation's replaceItemAt
            // fails on Linux when the destination exists).
            if rename(temp.path, path) != 0 {
                throw InputError.invalidInput("cannot write \(path): \(String(cString: strerror(errno)))")
            }
        } catch let error as InputError {
            try? FileManager.default.removeItem(at: temp)
            throw error
        } catch {
            try? FileManager.default.removeItem(at: temp)
            throw InputError.invalidInput("cannot write \(path): \(AtomicFile.reason(error))")
        }
    }

    /// Reads a whole file; throws `InputError.fileNotFound` or `.corruptFile` naming the path.
    public static func read(_ path: String) throws -> Data {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw InputError.fileNotFound(path) }
        guard !isDir.boolValue else { throw InputError.corruptFile(path: path, reason: "is a folder, not a file") }
        do {
            return try Data(contentsOf: URL(fileURLWithPath: path), options: .mappedIfSafe)
        } catch {
            throw InputError.corruptFile(path: path, reason: "cannot be read (\(reason(error)))")
        }
    }

    /// A short reason for a Foundation I/O error: the POSIX message when one is underneath
    /// ("No space left on device"), instead of Linux Foundation's "NSCocoaErrorDomain error 256".
    public static func reason(_ error: Error) -> String {
        if let e = error as? any UserError { return e.description }
        let ns = error as NSError
        if ns.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(ns.code))) }
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code)))
        }
        if let posix = error as? POSIXError { return String(cString: strerror(posix.code.rawValue)) }
        switch (ns.domain, ns.code) {
        case (NSCocoaErrorDomain, NSFileWriteOutOfSpaceError): return "No space left on device"
        case (NSCocoaErrorDomain, NSFileNoSuchFileError), (NSCocoaErrorDomain, NSFileReadNoSuchFileError): return "no such file"
        case (NSCocoaErrorDomain, NSFileReadNoPermissionError), (NSCocoaErrorDomain, NSFileWriteNoPermissionError): return "permission denied"
        default: return ns.localizedDescription
        }
    }
}

/// Names of the hidden temporary files written beside an output (`.NAME.PID.SUFFIX`), and the
/// clean-up of those a killed run left behind: a later write to the same output removes every
/// `.NAME.<pid>.tmp|.body` whose process no longer exists.
///
///     let temp = TemporaryFiles.path(besides: "out.npy", suffix: "tmp")   // ".out.npy.4242.tmp"
public enum TemporaryFiles {
    public static let suffixes = ["tmp", "body"]

    /// The temporary sibling of `path` owned by this process.
    public static func path(besides path: String, suffix: String) -> String {
        let url = URL(fileURLWithPath: path)
        return url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).\(ProcessInfo.processInfo.processIdentifier).\(suffix)").path
    }

    /// Removes temporary siblings of `path` left by processes that are no longer running; returns
    /// how many were removed. Files of live processes (another run writing the same output) stay.
    @discardableResult
    public static func removeStale(besides path: String) -> Int {
        let url = URL(fileURLWithPath: path)
        let folder = url.deletingLastPathComponent().path
        let prefix = ".\(url.lastPathComponent)."
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return 0 }
        var removed = 0
        for entry in entries where entry.hasPrefix(prefix) {
            let parts = entry.dropFirst(prefix.count).split(separator: ".")
            guard parts.count == 2, let pid = Int32(parts[0]), pid > 0, suffixes.contains(String(parts[1])) else { continue }
            guard pid != ProcessInfo.processInfo.processIdentifier, kill(pid, 0) != 0, errno == ESRCH else { continue }
            if (try? FileManager.default.removeItem(atPath: folder + "/" + entry)) != nil { removed += 1 }
        }
        return removed
    }
}
