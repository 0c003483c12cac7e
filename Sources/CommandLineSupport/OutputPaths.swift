import Core
import Foundation

/// The "inputs are never outputs" rule every command applies before any work: an output path
/// may not name a folder, nor the same file as one of the command's inputs — compared by device
/// and inode, so a symbolic or hard link to an input is caught too — whatever `--force` says.
///
///     try OutputPaths.check(out, option: "--out", inputs: [("--model", model), ("--data", data)])
public enum OutputPaths {
    /// Throws `InputError.invalidInput` naming `option` when `output` is an existing folder or is the
    /// same file as one of `inputs` (option name, path; nil paths are ignored).
    public static func check(_ output: String, option: String, inputs: [(option: String, path: String?)]) throws {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: output, isDirectory: &isDir), isDir.boolValue {
            throw InputError.invalidInput("\(option) \(output) is a folder; name a file to write")
        }
        for (inputOption, path) in inputs {
            guard let path, sameFile(output, path) else { continue }
            throw InputError.invalidInput("\(option) \(output) is the same file as the input \(inputOption) \(path); "
                + "write the output elsewhere (an input is never overwritten, even with --force)")
        }
    }

    /// True when `a` and `b` name one file: equal device and inode when both exist (links
    /// resolved), equal resolved paths otherwise.
    public static func sameFile(_ a: String, _ b: String) -> Bool {
        var sa = stat(), sb = stat()
        if stat(a, &sa) == 0 && stat(b, &sb) == 0 {
            return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino
        }
        return resolved(a) == resolved(b)
    }

    /// `path` absolute with its folder's links resolved (the file itself may not exist yet).
    static func resolved(_ path: String) -> String {
        let url = URL(fileURLWithPath: path).standardizedFileURL
        let folder = url.deletingLastPathComponent().path
        guard let real = realpath(folder, nil) else { return url.path }
        defer { free(real) }
        return String(cString: real) + "/" + url.lastPathComponent
    }
}
