import Foundation
import TestSupport
import Testing
@testable import CNN
@testable import Core
@testable import Datasets
@testable import ImageIO

/// Every reader over the malformed-input corpus of `Tests/Fixtures/fuzz` (made by
/// `tools/make_fuzz_corpus.py`): each file is read or refused with a one-line `UserError` naming
/// it — never a trap (which would end the test process) — within a bounded time.
@Suite struct FuzzCorpusTests {
    static let root = TestPaths.fixture("fuzz")

    /// The corpus files of one format folder (sorted), failing when the folder is missing or empty.
    static func files(_ format: String) throws -> [String] {
        let folder = root + "/" + format
        let names = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
        #expect(names.count >= 10, "corpus folder \(folder) has \(names.count) files; run tools/make_fuzz_corpus.py")
        return names.map { folder + "/" + $0 }
    }

    /// Runs `read` on every file of `format`: success or a `UserError` whose text is one line naming
    /// the file (or one beside it), each within 10 s. Returns the number of files refused.
    @discardableResult
    static func survey(_ format: String, skip: (String) -> Bool = { _ in false }, _ read: (String) throws -> Void) throws -> Int {
        var refused = 0
        for file in try files(format) where !skip(file) {
            let start = Date()
            do {
                try read(file)
            } catch let error as any UserError {
                refused += 1
                let text = error.description
                #expect(!text.contains("\n"), "\(file): multi-line error \(text)")
                #expect(text.contains(root + "/" + format) || text.contains(URL(fileURLWithPath: file).lastPathComponent),
                        "\(file): error does not name the file: \(text)")
            } catch {
                Issue.record("\(file): not a UserError: \(error)")
            }
            #expect(Date().timeIntervalSince(start) < 10, "\(file) took \(Date().timeIntervalSince(start)) s")
        }
        return refused
    }

    @Test func onnxReaderAndGraphBuilder() throws {
        let refused = try Self.survey("onnx", skip: { $0.hasSuffix(".bin") }) { file in
            _ = try Model.load(path: file)
        }
        #expect(refused >= 11)  // every hand-made hostile model, plus most mutants
    }

    @Test func npyReaders() throws {
        try Self.survey("npy") { file in
            _ = try Npy.read(path: file)
        }
        let refused = try Self.survey("npy", skip: { $0.contains("labels") }) { file in
            let dataset = try NpyImageDataset(path: file, labelsPath: nil)
            for i in 0..<min(dataset.count, 4) { _ = try dataset.image(at: i) }
        }
        #expect(refused >= 5)
    }

    @Test func idxReader() throws {
        let refused = try Self.survey("idx") { file in
            let dataset = try IdxDataset(path: file)
            for i in 0..<min(dataset.count, 4) { _ = try dataset.image(at: i) }
        }
        #expect(refused >= 3)
    }

    @Test func cifarReader() throws {
        let refused = try Self.survey("cifar") { file in
            let dataset = try CifarDataset(path: file, variant: .cifar10)
            for i in 0..<min(dataset.count, 4) { _ = try dataset.image(at: i) }
        }
        #expect(refused >= 2)
    }

    @Test func imageDecoders() throws {
        for format in ["png", "jpeg"] {
            let refused = try Self.survey(format) { file in
                let image = try ImageDecoder.decode(path: file)
                #expect(image.width > 0 && image.height > 0)
            }
            #expect(refused >= 1)
        }
    }

    @Test func datasetAutoDetection() throws {
        for format in ["npy", "idx", "cifar", "png"] {
            try Self.survey(format, skip: { $0.contains("labels") }) { file in
                _ = try DatasetFormat.auto.open(path: file)
            }
        }
    }

    @Test func classNameFiles() throws {
        try Self.survey("classes") { file in _ = try BuiltinClassNames.read(path: file) }
    }
}
