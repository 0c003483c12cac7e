import Foundation
import Testing
@testable import CNN
@testable import Core
@testable import Datasets
@testable import ImageIO

/// Preprocessing against torchvision's PIL path, as reproduced by tools/make_preprocessing_fixtures.py
/// (Pillow resize + torch ToTensor/Normalize) on the committed images in Tests/Fixtures/preprocessing.
@Suite struct DataPreprocessingTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/preprocessing").path

    /// The settings of the script's CONFIGS, in the same order.
    static let configs: [(String, Preprocessing)] = [
        ("rgb_r24_c20", Preprocessing(resize: 24, crop: (20, 20), channels: 3,
                                      mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225])),
        ("grey_r16_c16", Preprocessing(resize: 16, crop: (16, 16), channels: 1, mean: [0.5], std: [0.25])),
        ("rgb_r40_c48", Preprocessing(resize: 40, crop: (48, 48), channels: 3)),
        ("rgb_c21x27", Preprocessing(crop: (21, 27), channels: 3, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5])),
    ]

    func expected(_ name: String) throws -> Tensor {
        try Npy.read(path: "\(Self.root)/expected_\(name).npy").floatTensor(path: name)
    }

    @Test(arguments: 0..<4) func folderMatchesTorchvision(config: Int) throws {
        let (name, preprocessing) = Self.configs[config]
        let dataset = try ImageFolderDataset(path: "\(Self.root)/folder")
        #expect(dataset.classNames == ["cat", "dog"])
        #expect(dataset.labels == [0, 0, 1, 1, 1, 1])
        let loader = try DatasetLoader(dataset: dataset, preprocessing: preprocessing, batchSize: 16)
        let batch = try loader.batch(0)
        let reference = try expected(name)
        #expect(batch.images.shape == reference.shape)
        #expect(batch.identifiers.map { URL(fileURLWithPath: $0).lastPathComponent }
                == ["a_rgb.png", "b_grey.png", "c_rgba.png", "d_rgb.jpg", "e_grey.jpg", "f_palette.png"])
        // Resize + crop within one 8-bit step (1/255 before normalisation, so /std after it).
        let std = preprocessing.std.min() ?? 1
        let worst = zip(batch.images.data, reference.data).map { abs($0 - $1) }.max() ?? .infinity
        #expect(worst <= 1 / 255 / std + 1e-6, "max deviation \(worst) for \(name)")
        // In fact Pillow's fixed-point arithmetic is reproduced, so values agree to float rounding.
        #expect(worst <= 1e-6, "max deviation \(worst) for \(name)")
    }

    @Test func floatImagesFollowPillowFloatResize() throws {
        let dataset = try NpyImageDataset(path: "\(Self.root)/float_input.npy", labelsPath: nil)
        let loader = try DatasetLoader(dataset: dataset, preprocessing: Preprocessing(resize: 10), batchSize: 1)
        let batch = try loader.batch(0)
        let reference = try expected("float")
        #expect(batch.images.shape == reference.shape)
        let worst = zip(batch.images.data, reference.data).map { abs($0 - $1) }.max() ?? .infinity
        #expect(worst <= 1e-6, "max deviation \(worst)")
    }

    @Test func normalisationIsTorchsFloat32Arithmetic() throws {
        // A 1×1 grey image for every byte value: (u/255 − mean)/std in float32, in torch's order.
        let mean: Float = 0.2860, std: Float = 0.3530
        let p = Preprocessing(mean: [mean], std: [std])
        for u in 0...255 {
            var out: [Float] = [0]
            let image = DecodedImage(width: 1, height: 1, channels: 1, pixels: .uint8([UInt8(u)]))
            try out.withUnsafeMutableBufferPointer { try p.apply(image, into: $0, path: "pixel") }
            let x = Float(UInt8(u)) / Float(255)
            #expect(out[0] == (x - mean) / std)
        }
    }

    @Test func resizeRoundingAndCropOffsetsFollowTorchvision() {
        let p = Preprocessing(resize: 224)
        #expect(p.resizedSize(height: 375, width: 500) == (224, 298))   // int(224 * 500 / 375) = 298
        #expect(p.resizedSize(height: 500, width: 333) == (336, 224))   // int(336.33…)
        #expect(Preprocessing.cropOffset(5, 2) == 2)   // round(1.5) = 2
        #expect(Preprocessing.cropOffset(3, 2) == 0)   // round(0.5) = 0 (half to even)
        #expect(Preprocessing.cropOffset(2, 5) == -1)  // padded by (5 - 2) // 2 on the left
    }
}
