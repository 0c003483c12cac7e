import Foundation
import TestSupport
import Testing
@testable import CNN
@testable import Core
@testable import Datasets

/// Bad datasets give one clear `InputError` or `DatasetError` naming the file, never a crash or exit.
@Suite struct DataErrorTests {
    let dir: String
    init() throws { dir = try makeTemporaryFolder("data-error-tests") }

    func message(_ body: () throws -> Void) -> String {
        do { try body(); return "no error" } catch { return "\(error)" }
    }

    @Test func idxProblems() throws {
        let pixels = [UInt8](repeating: 1, count: 2 * 4 * 4)
        try writeDataFile(Array(idxBytes(dims: [2, 4, 4], body: pixels).dropLast(5)), to: "\(dir)/short-images-idx3-ubyte")
        #expect(message { _ = try IdxDataset(path: "\(dir)/short-images-idx3-ubyte") }.contains("short-images-idx3-ubyte: truncated IDX file"))

        var wrong = idxBytes(dims: [2, 4, 4], body: pixels)
        wrong[0] = 0x1F; wrong[1] = 0x00
        try writeDataFile(wrong, to: "\(dir)/magic-images-idx3-ubyte")
        #expect(message { _ = try IdxDataset(path: "\(dir)/magic-images-idx3-ubyte") }.contains("magic-images-idx3-ubyte: not an IDX file (wrong magic number)"))

        try writeDataFile(idxBytes(dims: [2, 4, 4], body: pixels), to: "\(dir)/n-images-idx3-ubyte.gz", gzip: true)
        try writeDataFile(idxBytes(dims: [3], body: [1, 2, 3]), to: "\(dir)/n-labels-idx1-ubyte.gz", gzip: true)
        #expect(message { _ = try IdxDataset(path: "\(dir)/n-images-idx3-ubyte.gz") } == "\(dir)/n-labels-idx1-ubyte.gz: has 3 labels but \(dir)/n-images-idx3-ubyte.gz has 2 images")

        // A gzip stream cut short is reported, not silently shortened.
        let gz = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/n-images-idx3-ubyte.gz"))
        try gz.prefix(gz.count / 2).write(to: URL(fileURLWithPath: "\(dir)/cut-images-idx3-ubyte.gz"))
        #expect(message { _ = try IdxDataset(path: "\(dir)/cut-images-idx3-ubyte.gz") }.contains("cut-images-idx3-ubyte.gz"))
    }

    /// A copy of the fixture folder with one extra bad file in class `dog`.
    func folderWith(bad name: String, bytes: Data) throws -> String {
        let root = "\(dir)/folder-\(name)"
        try FileManager.default.copyItem(atPath: DataPreprocessingTests.root + "/folder", toPath: root)
        try bytes.write(to: URL(fileURLWithPath: "\(root)/dog/\(name)"))
        return root
    }

    @Test(arguments: ["zero.jpg", "zero.png", "corrupt.jpg", "corrupt.png", "truncated.jpg", "notimage.png"])
    func badImagesInAFolder(name: String) throws {
        let jpeg = try Data(contentsOf: URL(fileURLWithPath: DataPreprocessingTests.root + "/folder/dog/d_rgb.jpg"))
        let png = try Data(contentsOf: URL(fileURLWithPath: DataPreprocessingTests.root + "/folder/cat/a_rgb.png"))
        var bytes: Data
        switch name {
        case "zero.jpg", "zero.png": bytes = Data()
        case "corrupt.jpg": bytes = jpeg.prefix(20) + Data(repeating: 0x55, count: 300)
        case "corrupt.png": bytes = png; bytes.replaceSubrange(60..<200, with: Data(repeating: 0xAB, count: 140))
        case "truncated.jpg": bytes = jpeg.prefix(jpeg.count / 2)
        default: bytes = Data("this is text".utf8)
        }
        let root = try folderWith(bad: name, bytes: bytes)
        let dataset = try ImageFolderDataset(path: root)
        #expect(dataset.count == 7)
        let p = Preprocessing(resize: 8, crop: (8, 8), channels: 3)
        let strict = try DatasetLoader(dataset: dataset, preprocessing: p, batchSize: 8)
        #expect(message { _ = try strict.batch(0) }.hasPrefix("\(root)/dog/\(name): "))
        let lenient = try DatasetLoader(dataset: dataset, preprocessing: p, batchSize: 8, skipBad: true)
        let batch = try lenient.batch(0)
        #expect(batch.images.shape == [6, 3, 8, 8])
        #expect(batch.skipped.count == 1)
        #expect(batch.skipped.first?.hasPrefix("\(root)/dog/\(name): ") == true)
    }

    @Test func mixedSizesWithoutResizeAndEmptyFolders() throws {
        let dataset = try ImageFolderDataset(path: DataPreprocessingTests.root + "/folder")
        let loader = try DatasetLoader(dataset: dataset, preprocessing: Preprocessing(channels: 3), batchSize: 2)
        #expect(message { _ = try loader.batch(0) }.contains("b_grey.png preprocesses to 3x41x23 but earlier images to 3x29x37"))
        // Across batches too (each batch alone is uniform).
        let stream = try DatasetLoader(dataset: dataset, preprocessing: Preprocessing(channels: 3), batchSize: 1).stream()
        _ = try stream.next()
        #expect(message { _ = try stream.next() }.contains("b_grey.png"))

        try FileManager.default.createDirectory(atPath: "\(dir)/empty", withIntermediateDirectories: true)
        #expect(message { _ = try DatasetFormat.auto.open(path: "\(dir)/empty") }.contains("\(dir)/empty: no class sub-folders"))
        try FileManager.default.createDirectory(atPath: "\(dir)/emptyclass/a", withIntermediateDirectories: true)
        #expect(message { _ = try DatasetFormat.auto.open(path: "\(dir)/emptyclass") }.contains("\(dir)/emptyclass/a: class folder holds no"))
        #expect(message { _ = try DatasetFormat.auto.open(path: "\(dir)/missing") } == "file not found: \(dir)/missing")
    }

    @Test func cifarAndNpyProblems() throws {
        try writeDataFile([UInt8](repeating: 0, count: 3073 + 100), to: "\(dir)/data_batch_1.bin")
        #expect(message { _ = try CifarDataset(path: "\(dir)/data_batch_1.bin", variant: .cifar10) }.contains("data_batch_1.bin: 3173 bytes"))
        try Npy.encode(descr: "<f8", shape: [1, 2, 2], body: Data(count: 32)).write(to: URL(fileURLWithPath: "\(dir)/d.npy"))
        #expect(message { _ = try NpyImageDataset(path: "\(dir)/d.npy", labelsPath: nil) }.contains("d.npy: image arrays must be uint8 or float32"))
        try Npy.encode(descr: "|u1", shape: [2, 5, 5, 5], body: Data(count: 250)).write(to: URL(fileURLWithPath: "\(dir)/s.npy"))
        #expect(message { _ = try NpyImageDataset(path: "\(dir)/s.npy", labelsPath: nil) }.contains("is not N×C×H×W"))
    }
}
