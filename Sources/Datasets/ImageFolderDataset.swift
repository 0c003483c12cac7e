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
            throw fm.fileExists(atPath: path) ? CNNError.invalidInput("\(path): not a folder") : CNNError.fileNotFound(path)
        }
        let classes = try ImageFolderDataset.list(path).filter { ImageFolderDataset.isDirectory(path + "/" + $0) }
        guard !classes.isEmpty else {
            throw CNNError.invalidInput("\(path): no class sub-folders found (ImageFolder layout is PATH/<class>/<image>)")
        }
        var files = [String](), labels = [Int](), ignored = 0
        for (label, name) in classes.enumerated() {
            var directories = [String]()
            ImageFolderDataset.walk(path + "/" + name, into: &directories)
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
                throw CNNError.invalidInput("\(path)/\(name): class folder holds no .jpg/.jpeg/.png images")
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
            throw CNNError.invalidInput("\(dir): cannot list folder (\(error.localizedDescription))")
        }
    }

    static func walk(_ dir: String, into out: inout [String]) {
        out.append(dir)
        for entry in (try? list(dir)) ?? [] where isDirectory(dir + "/" + entry) {
            walk(dir + "/" + entry, into: &out)
        }
    }

    static func isDirectory(_ path: String) -> Bool {
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && isDir.boolValue
    }
}
