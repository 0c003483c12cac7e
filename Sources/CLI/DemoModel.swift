import Core
import Foundation

/// The built-in demo: models/fashion-resnet (ONNX, classes.txt, preprocessing.json) in the
/// repository, traced on the Debian Fashion-MNIST test set.
enum DemoModel {
    static let relativeModel = "models/fashion-resnet/model.onnx"
    static let data = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"

    /// The demo model and dataset. The repository's models/ folder is searched upward from the
    /// executable's folder, then from the current directory; a clear error says what is missing.
    static func locate() throws -> (model: String, data: String) {
        var starts = [URL]()
        if let exe = Bundle.main.executableURL { starts.append(exe.resolvingSymlinksInPath().deletingLastPathComponent()) }
        starts.append(URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
        for start in starts {
            var dir = start.standardizedFileURL
            while true {
                let candidate = dir.appendingPathComponent(relativeModel).path
                if FileManager.default.fileExists(atPath: candidate) {
                    guard FileManager.default.fileExists(atPath: data) else {
                        throw InputError.fileNotFound("\(data) (the demo's Fashion-MNIST test set: install dataset-fashion-mnist, or pass --data)")
                    }
                    return (candidate, data)
                }
                let parent = dir.deletingLastPathComponent()
                if parent.path == dir.path { break }
                dir = parent
            }
        }
        throw InputError.invalidInput("no --model given and the demo model (\(relativeModel)) was not found above the executable "
            + "or the current directory; pass --model and --data")
    }

    /// Normalisation mean and std from a preprocessing.json beside the model (as the demo has), if any.
    static func normalization(besideModel model: String) -> (mean: [Float], std: [Float])? {
        let path = URL(fileURLWithPath: model).deletingLastPathComponent().appendingPathComponent("preprocessing.json").path
        guard let data = FileManager.default.contents(atPath: path),
              let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let mean = json["mean"] as? [NSNumber], let std = json["std"] as? [NSNumber], !mean.isEmpty, mean.count == std.count else {
            return nil
        }
        return (mean.map { $0.floatValue }, std.map { $0.floatValue })
    }
}
