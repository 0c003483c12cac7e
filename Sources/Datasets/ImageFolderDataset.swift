import Core
import Foundation
import ImageIO

/// A folder in torchvision `ImageFolder` layout: one sub-folder per class (classes sorted by name,
/// label = position), images anywhere below it. Only file names are listed when opening — images
/// are decoded on demand, so ImageNet-sized folders open in the time a directory walk takes.
///
/// Order matches torchvision: classes sorted, then per class `sorted(os.walk(...))` folders and
/// sorted file names (byte order of UTF-8 = Python's code-point order). Files ending in `.jpg`,
/// `.jpeg` or `.png` (any case) are images; other files are ignored and counted. Hidden entries
/// (names starting with ".") are skipped, unlike torchvision, which would list e.g. `.ipynb_checkpoints`.
/// Linked folders are followed once per real path; a link loop is an error naming the link.
public struct ImageFolderDataset: ImageDataset {
    public let path: String
    public var formatName: String { "folder" }
    public let files: [String]
    public let labels: [Int]
    public let classNames: [String]
    /// Files below the class folders that are not JPEG/PNG by extension.
    public let ignoredFiles: Int
    public var count: Int { files.count }
    public var imageShape: [Int]? { nil }

    static let extensions: Set<String> = ["jpg", "jpeg", "png"]

    public init(path: String) throws {
        self.path = path
        let fm = FileManager.default
        guard ImageFolderDataset.isDirectory(path) else {
            throw fm.fileExists(atPath: path) ? DatasetError.invalidDataset("\(path): not a folder") : InputError.fileNotFound(path)
        }
        let classes = try ImageFolderDataset.list(path).filter { ImageFolderDataset.isDirectory(path + "/" + $0) }
        guard !classes.isEmpty else {
            throw DatasetError.invalidDataset("\(path): no class sub-folders found (ImageFolder layout is PATH/<class>/<image>)")
        }
        var files = [String](), labels = [Int](), ignored = 0
        for (label, name) in classes.enumerated() {
            var directories = [String]()
            var visited = Set<String>()
            try ImageFolderDataset.walk(path + "/" + name, ancestors: [], visited: &visited, into: &directories)
            directories.sort { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            var found = 0
            for dir in directories {
                for file in (try? ImageFolderDataset.list(dir)) ?? [] where !ImageFolderDataset.isDirectory(dir + "/" + file) {
                    let ext = (file as NSString).pathExtension.lowercased()
                    if ImageFolderDataset.extensions.contains(ext) {
                        files.append(dir + "/" + file)
                        labels.append(label)
                        found += 1
                    } else {
                        ignored += 1
                    }
                }
            }
            guard found > 0 else {
                throw DatasetError.invalidDataset("\(path)/\(name): class folder holds no .jpg/.jpeg/.png images")
            }
        }
        self.files = files
        self.labels = labels
        self.classNames = classes
        self.ignoredFiles = ignored
    }

    public func image(at index: Int) throws -> DecodedImage {
        try ImageDecoder.decode(path: files[index])
    }

    public func identifier(at index: Int) -> String { files[index] }

    /// Entries of a folder, sorted by UTF-8 bytes, hidden entries (".…") skipped.
    static func list(_ dir: String) throws -> [String] {
        do {
            return try FileManager.default.contentsOfDirectory(atPath: dir)
                .filter { !$0.hasPrefix(".") }
                .sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        } catch {
            throw DatasetError.invalidDataset("\(dir): cannot list folder (\(error.localizedDescription))")
        }
    }

    /// Collects `dir` and the folders below it, following symbolic links to folders at most once
    /// per real path: a folder reached again through another link is skipped (its images are
    /// listed once), and a link back to one of its own ancestors (a loop) is an error naming it.
    static func walk(_ dir: String, ancestors: Set<String>, visited: inout Set<String>, into out: inout [String]) throws {
        let real = realPath(dir)
        if ancestors.contains(real) {
            throw DatasetError.invalidDataset("\(dir): symbolic link loop (leads back to \(real)); remove the link or point it elsewhere")
        }
        guard visited.insert(real).inserted else { return }
        out.append(dir)
        let inside = ancestors.union([real])
        for entry in (try? list(dir)) ?? [] where isDirectory(dir + "/" + entry) {
            try walk(dir + "/" + entry, ancestors: inside, visited: &visited, into: &out)
        }
    }

    /// The path with every symbolic link resolved (the path itself when it cannot be resolved).
    static func realPath(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    static func isDirectory(_ path: String) -> Bool {
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && isDir.boolValue
    }
}
