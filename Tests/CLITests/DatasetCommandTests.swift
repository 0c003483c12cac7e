import ArgumentParser
import CZlib
import Foundation
import Testing
@testable import CLI
@testable import CommandLineSupport

/// The `dataset` commands end to end, through their argument parsing.
@Suite struct DatasetCommandTests {
    let dir: String
    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("dataset-cli-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    static let images = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/preprocessing").path

    /// The whole decompressed file, read with zlib (independently of the code under test).
    func gunzip(_ path: String) throws -> [UInt8] {
        let file = try #require(gzopen(path, "rb"))
        defer { gzclose(file) }
        var out = [UInt8](), chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { gzread(file, $0.baseAddress, UInt32($0.count)) }
            if n <= 0 { break }
            out += chunk[0..<Int(n)]
        }
        return out
    }

    /// Float32 payload of a little-endian `<f4` .npy, with its shape text.
    func readFloats(_ path: String) throws -> (header: String, values: [Float]) {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
        let header = String(decoding: bytes[10..<(10 + headerLength)], as: UTF8.self)
        let body = Array(bytes[(10 + headerLength)...])
        let values = body.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        return (header, values)
    }

    @Test func fashionMNISTExportEqualsTorchArithmetic() throws {
        let command = try DatasetExportCommand.parse([
            "--data", Self.images, "--limit", "64", "--mean", "0.2860", "--std", "0.3530",
            "--out", "\(dir)/x.npy", "--labels-out", "\(dir)/y.npy", "--quiet",
        ])
        try command.run()
        let (header, values) = try readFloats("\(dir)/x.npy")
        #expect(header.contains("'descr': '<f4'") && header.contains("'shape': (64, 1, 28, 28)"))
        // Reference straight from the IDX bytes: ToTensor then Normalize, float32, torch's order.
        let raw = try gunzip(Self.images)
        let mean: Float = 0.2860, std: Float = 0.3530
        let reference = raw[16..<(16 + 64 * 784)].map { (Float($0) / Float(255) - mean) / std }
        #expect(values == reference)
        let labels = try gunzip(Self.images.replacingOccurrences(of: "images-idx3", with: "labels-idx1"))
        let labelBytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: "\(dir)/y.npy")))
        let stored = labelBytes.suffix(64 * 8).withUnsafeBytes { Array($0.bindMemory(to: Int64.self)) }
        #expect(stored == labels[8..<72].map(Int64.init))
    }

    @Test func folderExportDefaultsToRGBAndFailsOnMixedSizes() throws {
        let ok = try DatasetExportCommand.parse(["--data", "\(Self.fixtures)/folder", "--resize", "24", "--crop", "20",
                                                 "--out", "\(dir)/f.npy", "--quiet", "--batch-size", "4"])
        try ok.run()
        #expect(try readFloats("\(dir)/f.npy").header.contains("'shape': (6, 3, 20, 20)"))
        let mixed = try DatasetExportCommand.parse(["--data", "\(Self.fixtures)/folder", "--out", "\(dir)/m.npy", "--quiet"])
        // The message (tested in DataErrorTests) goes to stderr; the command exits 1.
        #expect(throws: ExitCode(1)) { try mixed.run() }
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/m.npy"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix(".") }.isEmpty)
    }

    @Test func optionsRejectBadFlags() throws {
        #expect(throws: (any Error).self) { try DatasetOptions.parse(["--data", "x", "--crop", "3y"]).preprocessing() }
        #expect { try DatasetOptions.parse(["--data", "x", "--mean", "0.5,abc"]).preprocessing() } throws: { "\($0)".contains("abc") }
        #expect { try DatasetOptions.parse(["--data", "x", "--format", "tiff"]).openDataset() } throws: { "\($0)".contains("tiff") }
        let crop = try DatasetOptions.parseCrop("21x27")
        #expect(crop.height == 21 && crop.width == 27)
    }
}

extension DatasetCommandTests {
    /// With --force an existing output is replaced whole (a shorter export leaves no old tail).
    @Test func exportReplacesAnExistingOutput() throws {
        for limit in ["3", "5", "2"] {
            let command = try DatasetExportCommand.parse(["--data", Self.images, "--limit", limit, "--out", "\(dir)/r.npy",
                                                          "--labels-out", "\(dir)/rl.npy", "--force", "--quiet"])
            try command.run()
            #expect(try readFloats("\(dir)/r.npy").header.contains("'shape': (\(limit), 1, 28, 28)"))
        }
    }
}
