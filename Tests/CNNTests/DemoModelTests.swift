import Foundation
import Testing
@testable import CNN
@testable import Core
@testable import Datasets

/// The committed demo model (models/fashion-resnet) run by our engine on the whole Fashion-MNIST
/// test set, read and preprocessed by our dataset code, against PyTorch's outputs for the same
/// images (fixtures written by tools/train_demo.py from the eval-mode PyTorch model).
@Suite struct DemoModelTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let model = root.appendingPathComponent("models/fashion-resnet/model.onnx").path
    static let fixtures = root.appendingPathComponent("Tests/Fixtures/demo").path
    static let images = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"

    /// All 10,000 test images in order, (u8/255 − 0.2860)/0.3530, batches of 500: the argmax agrees
    /// with PyTorch's on ≥ 99.9 % of them, and the logits of images 0..<64 agree to 1e-4.
    /// Cost in a debug build: ≈ 46 s of CPU (100 s wall at load 9). `perf`: ≈ 75 % in the engine's
    /// Swift loops compiled -Onone (im2col 25 %, bias/ReLU copy 10 %, broadcasting/elementwise 13 %),
    /// 15 % in OpenBLAS; reading and preprocessing the 10,000 images is negligible.
    @Test func reproducesPyTorchOnTheTestSet() throws {
        let model = try Model.load(path: Self.model, threads: 1)
        let spec = DatasetSpec(data: Self.images, preprocessing: Preprocessing(mean: [0.2860], std: [0.3530]))
        let loader = try spec.makeLoader(batchSize: 500)
        let torchPredictions = try Npy.read(path: "\(Self.fixtures)/torch_test_predictions.npy")
            .integers(path: "torch_test_predictions.npy")
        let torchLogits = try Npy.read(path: "\(Self.fixtures)/torch_test_logits_first64.npy")
            .floatTensor(path: "torch_test_logits_first64.npy")
        #expect(loader.indices.count == 10_000 && torchPredictions.count == 10_000)
        #expect(torchLogits.shape == [64, 10])

        var predictions = [Int]()
        var firstLogits = [Float]()
        let stream = loader.stream()
        while let batch = try stream.next() {
            let output = try model.forward(batch.images)
            let logits = try #require(output["logits"])
            let classes = logits.shape[1]
            for i in 0..<logits.shape[0] {
                let row = logits.data[(i * classes)..<((i + 1) * classes)]
                predictions.append(row.indices.max { row[$0] < row[$1] }.map { $0 - i * classes } ?? -1)
            }
            if firstLogits.count < 64 * classes { firstLogits += logits.data.prefix(64 * classes - firstLogits.count) }
        }
        #expect(predictions.count == 10_000)
        let agree = zip(predictions, torchPredictions).filter { $0 == $1 }.count
        #expect(Double(agree) / 10_000 >= 0.999, "agree on \(agree) of 10000")
        let worst = zip(firstLogits, torchLogits.data).map { abs($0 - $1) }.max() ?? .infinity
        #expect(firstLogits.count == 640 && worst <= 1e-4, "max |Δlogit| \(worst)")
    }
}
