// libFuzzer entry point for gigtrace's file readers (issue 12). Not part of the package build:
// tools/fuzz.sh compiles the reader modules with coverage (-sanitize=fuzzer) and links this file
// against them. The first byte of each input picks the reader, the rest is the file's content:
//
//   0 ONNX (protobuf decode + graph build)   1 .npy (Npy.decode)      2 .npy image dataset
//   3 IDX images (plain or gzip)            4 JPEG/PNG decoding      5 CIFAR-10 batch
//
// Every reader must return or throw; a trap, a crash or an allocation beyond libFuzzer's
// -rss_limit_mb is a finding.
import CNN
import Core
import Datasets
import Foundation
import ImageIO

/// Writes `bytes` to a per-process scratch file (the dataset readers take paths).
private func scratch(_ bytes: Data, suffix: String) -> String {
    let path = "/tmp/gigtrace-fuzz-\(ProcessInfo.processInfo.processIdentifier)\(suffix)"
    _ = FileManager.default.createFile(atPath: path, contents: bytes)
    return path
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 1 else { return 0 }
    let body = Data(bytes: data + 1, count: size - 1)
    do {
        switch data[0] % 6 {
        case 0:
            let model = try OnnxReader.decodeModel([UInt8](body), path: "fuzz.onnx", externalDataFolder: "/nonexistent")
            _ = try Model(onnx: model)
        case 1:
            _ = try Npy.decode(body, path: "fuzz.npy")
        case 2:
            let dataset = try NpyImageDataset(path: scratch(body, suffix: ".npy"), labelsPath: nil)
            for i in 0..<min(dataset.count, 2) { _ = try dataset.image(at: i) }
        case 3:
            let dataset = try IdxDataset(path: scratch(body, suffix: "-images-idx3-ubyte"))
            for i in 0..<min(dataset.count, 2) { _ = try dataset.image(at: i) }
        case 4:
            _ = try ImageDecoder.decode(body, path: "fuzz.img")
        default:
            let dataset = try CifarDataset(path: scratch(body, suffix: ".bin"), variant: .cifar10)
            for i in 0..<min(dataset.count, 2) { _ = try dataset.image(at: i) }
        }
    } catch {
        // A clean error is the expected answer to malformed input.
    }
    return 0
}
