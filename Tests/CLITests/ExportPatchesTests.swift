import ArgumentParser
import Foundation
import GIGTrace
import Testing
@testable import CLI
@testable import Core
@testable import Datasets

/// `gigtrace export --patches`: exemplar patches cut from the dataset the trace header records.
@Suite struct ExportPatchesTests {
    let dir: String
    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("export-patches-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    /// Raw 8-bit value of pixel (r, c) of image n of the tiny dataset (distinct per image and pixel).
    static func pixel(_ n: Int, _ r: Int, _ c: Int) -> Int { 40 * n + 16 * r + 3 * c }

    /// Six grey 4×4 images as float32 .npy in [0, 1] (value u/255), the dataset the trace "ran" on.
    func writeDataset() throws -> String {
        var t = Tensor(shape: [6, 1, 4, 4])
        for n in 0..<6 { for r in 0..<4 { for c in 0..<4 { t.data[(n * 4 + r) * 4 + c] = Float(Self.pixel(n, r, c)) / 255 } } }
        let path = "\(dir)/images.npy"
        try Npy.write(t, to: path)
        return path
    }

    /// The small graph of GraphCommandTests (exemplars: image n, box rows 0..<2, columns 0..<2),
    /// with a header whose preprocessing is the DatasetSpec of `data` (normalised, as a model sees it).
    func writeTrace(data: String) throws -> String {
        var header = try GraphCommandTests().header(shard: 0)
        header.preprocessingJSON = try DatasetSpec(data: data, preprocessing: Preprocessing(mean: [0.5], std: [0.25])).jsonText()
        let path = "\(dir)/trace.sqlite"
        let writer = try TraceWriter.create(at: path, header: header)
        for n in 0..<6 { try writer.add(try GraphCommandTests().trace(n)) }
        try writer.finish()
        return path
    }

    /// Every `image="…"` of the DOT names a PNG that exists and decodes (libspng) to the 2×2 box of
    /// the top exemplar (image 5: the largest code), with the raw, un-normalised pixel values.
    @Test func dotReferencesDecodablePatches() throws {
        let trace = try writeTrace(data: try writeDataset())
        let export = try ExportCommand.parse([trace, "--format", "dot", "--patches", "\(dir)/patches", "--out", "\(dir)/g.dot"])
        try export.run()
        let dot = try String(contentsOfFile: "\(dir)/g.dot", encoding: .utf8)
        let images = dot.components(separatedBy: "image=\"").dropFirst().compactMap { $0.split(separator: "\"").first.map(String.init) }
        #expect(images.count == 5)   // 2 + 3 concepts
        let expected = (0..<2).flatMap { r in (0..<2).map { c in UInt8(Self.pixel(5, r, c)) } }
        for path in images {
            // Patch paths are relative to the exported file.
            let (w, h, channels, pixels) = try ERFCommandTests().decodePNG(path.hasPrefix("/") ? path : "\(dir)/\(path)")
            #expect(w == 2 && h == 2 && channels == 1)
            #expect(pixels == expected, "\(path)")
        }
    }

    /// A dataset that moved away since tracing, or a header without a dataset description: one
    /// error naming the path; nothing is written.
    @Test func missingDatasetIsNamed() throws {
        let trace = try writeTrace(data: "\(dir)/gone.npy")
        let reader = try TraceReader.open(trace)
        #expect {
            try DatasetPatchWriter(header: reader.header, tracePath: trace)
        } throws: { error in
            "\(error)".contains("\(dir)/gone.npy") && "\(error)".contains(trace)
        }
        var header = reader.header
        header.preprocessingJSON = "{}"
        #expect {
            try DatasetPatchWriter(header: header, tracePath: trace)
        } throws: { error in
            "\(error)".contains(trace) && "\(error)".contains("dataset")
        }
        let export = try ExportCommand.parse([trace, "--format", "dot", "--patches", "\(dir)/patches", "--out", "\(dir)/g.dot"])
        #expect(throws: ExitCode.self) { try export.run() }
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/g.dot"))
    }
}
