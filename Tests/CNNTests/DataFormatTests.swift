import CZlib
import Foundation
import TestSupport
import Testing
@testable import CNN
@testable import Core
@testable import Datasets
@testable import ImageIO

/// Writes `bytes` to `path`, gzip-compressed through zlib when `gzip`.
func writeDataFile(_ bytes: [UInt8], to path: String, gzip: Bool = false) throws {
    if gzip {
        guard let file = gzopen(path, "wb") else { throw InputError.invalidInput("cannot create \(path)") }
        let written = bytes.withUnsafeBytes { gzwrite(file, $0.baseAddress, UInt32($0.count)) }
        gzclose(file)
        guard written == Int32(bytes.count) else { throw InputError.invalidInput("gzwrite failed for \(path)") }
    } else {
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }
}

/// An IDX file: magic 00 00 08 ndim, big-endian extents, then the bytes.
func idxBytes(dims: [Int], body: [UInt8]) -> [UInt8] {
    var out: [UInt8] = [0, 0, 8, UInt8(dims.count)]
    for d in dims { out += [UInt8(d >> 24 & 255), UInt8(d >> 16 & 255), UInt8(d >> 8 & 255), UInt8(d & 255)] }
    return out + body
}

/// Each image format read back against the bytes the test wrote; layouts converted by hand.
@Suite struct DataFormatTests {
    let dir: String
    init() throws { dir = try makeTemporaryFolder("data-format-tests") }

    /// 3 images of 2×4, pixel value = 10·image + position.
    let idxPixels: [UInt8] = (0..<3).flatMap { n in (0..<8).map { UInt8(10 * n + $0) } }

    @Test(arguments: [false, true]) func idxPlainAndGzip(gzip: Bool) throws {
        let suffix = gzip ? ".gz" : ""
        try writeDataFile(idxBytes(dims: [3, 2, 4], body: idxPixels), to: "\(dir)/t10k-images-idx3-ubyte\(suffix)", gzip: gzip)
        try writeDataFile(idxBytes(dims: [3], body: [7, 0, 9]), to: "\(dir)/t10k-labels-idx1-ubyte\(suffix)", gzip: gzip)
        let path = "\(dir)/t10k-images-idx3-ubyte\(suffix)"
        #expect(try DatasetFormat.detect(path: path) == .idx)
        let dataset = try DatasetFormat.auto.open(path: path)
        #expect(dataset.count == 3)
        #expect(dataset.labels == [7, 0, 9])
        #expect(dataset.imageShape == [1, 2, 4])
        #expect(try dataset.image(at: 1) == DecodedImage(width: 4, height: 2, channels: 1, pixels: .uint8(Array(idxPixels[8..<16]))))
        let batch = try DatasetLoader(dataset: dataset, preprocessing: Preprocessing(), batchSize: 2).batch(1)
        #expect(batch.images.shape == [1, 1, 2, 4])
        #expect(batch.images.data == idxPixels[16..<24].map { Float($0) / 255 })
        #expect(batch.labels == [9])
        #expect(batch.indices == [2])
    }

    /// Two records: label byte(s), then planar R, G, B planes of 32×32.
    func cifarRecords(labels: [[UInt8]]) -> [UInt8] {
        labels.enumerated().flatMap { n, label in
            label + (0..<3072).map { UInt8(truncatingIfNeeded: $0 * 7 + n * 3) }
        }
    }

    @Test func cifar10And100() throws {
        try writeDataFile(cifarRecords(labels: [[3], [8]]), to: "\(dir)/test_batch.bin")
        try writeDataFile(cifarRecords(labels: [[4, 72], [19, 5]]), to: "\(dir)/test.bin")
        let ten = try DatasetFormat.auto.open(path: "\(dir)/test_batch.bin")
        #expect(ten.formatName == "cifar10")
        #expect(ten.labels == [3, 8])
        #expect(ten.classNames[3] == "cat")
        let image = try ten.image(at: 1)
        // HWC pixel (y, x, c) comes from plane c at y·32 + x of record 1.
        for (y, x, c) in [(0, 0, 0), (5, 31, 1), (31, 2, 2)] {
            guard case .uint8(let px) = image.pixels else { Issue.record("not uint8"); return }
            #expect(px[(y * 32 + x) * 3 + c] == UInt8(truncatingIfNeeded: (c * 1024 + y * 32 + x) * 7 + 3))
        }
        let hundred = try DatasetFormat.auto.open(path: "\(dir)/test.bin")
        #expect(hundred.formatName == "cifar100")
        #expect(hundred.labels == [72, 5])
        #expect(hundred.classNames.count == 100)
        #expect(hundred.classNames[72] == "seal")
        let coarse = try DatasetFormat.cifar100Coarse.open(path: "\(dir)/test.bin")
        #expect(coarse.labels == [4, 19])
        #expect(coarse.classNames.count == 20)
        #expect(try coarse.image(at: 0) == hundred.image(at: 0))
    }

    @Test func npyBothLayoutsAndDtypes() throws {
        // 2 images, 3 channels, 2×3 pixels; value = 100·n + 10·c + (y·3 + x).
        func value(_ n: Int, _ c: Int, _ y: Int, _ x: Int) -> Int { 100 * n + 10 * c + y * 3 + x }
        var nchw = [UInt8](), nhwc = [UInt8]()
        for n in 0..<2 { for c in 0..<3 { for y in 0..<2 { for x in 0..<3 { nchw.append(UInt8(value(n, c, y, x))) } } } }
        for n in 0..<2 { for y in 0..<2 { for x in 0..<3 { for c in 0..<3 { nhwc.append(UInt8(value(n, c, y, x))) } } } }
        try Npy.encode(descr: "|u1", shape: [2, 3, 2, 3], body: Data(nchw)).write(to: URL(fileURLWithPath: "\(dir)/nchw.npy"))
        try Npy.encode(descr: "|u1", shape: [2, 2, 3, 3], body: Data(nhwc)).write(to: URL(fileURLWithPath: "\(dir)/nhwc.npy"))
        let floats = nchw.map { Float($0) / 255 }
        try Npy.write(Tensor(shape: [2, 3, 2, 3], data: floats), to: "\(dir)/float.npy")
        try Npy.write(int64: [1, 0], shape: [2], to: "\(dir)/labels.npy")

        let expected = nchw.map { Float($0) / 255 }
        for name in ["nchw", "nhwc", "float"] {
            let dataset = try DatasetFormat.auto.open(path: "\(dir)/\(name).npy", labelsPath: "\(dir)/labels.npy")
            #expect(dataset.imageShape == [3, 2, 3], "\(name)")
            #expect(dataset.labels == [1, 0])
            let batch = try DatasetLoader(dataset: dataset, preprocessing: Preprocessing(), batchSize: 2).batch(0)
            #expect(batch.images.shape == [2, 3, 2, 3])
            #expect(batch.images.data == expected, "\(name)")
            #expect(batch.identifiers == ["\(dir)/\(name).npy#0", "\(dir)/\(name).npy#1"])
        }
    }

    @Test func folderOfPngAndJpegIncludingGreyAndRgba() throws {
        let root = DataPreprocessingTests.root + "/folder"
        #expect(try DatasetFormat.detect(path: root) == .folder)
        let dataset = try ImageFolderDataset(path: root)
        let shapes = try (0..<dataset.count).map { i -> [Int] in
            let image = try dataset.image(at: i)
            return [image.channels, image.height, image.width]
        }
        // a_rgb.png RGB, b_grey.png L, c_rgba.png RGBA, d_rgb.jpg RGB, e_grey.jpg L, f_palette.png P→RGBA.
        #expect(shapes == [[3, 29, 37], [1, 41, 23], [4, 30, 40], [3, 33, 45], [1, 30, 30], [4, 34, 26]])
        // Pixels equal Pillow's decode (PNG lossless; JPEG with libjpeg's defaults, as Pillow).
        let out = try runPython("""
        import numpy as np
        from PIL import Image
        for n in ['cat/a_rgb.png', 'cat/b_grey.png', 'dog/c_rgba.png', 'dog/d_rgb.jpg', 'dog/e_grey.jpg']:
            a = np.array(Image.open('\(root)/' + n), dtype=np.int64)
            print(int(a.sum()))
        """)
        let sums = out.split(separator: "\n").compactMap { Int($0) }
        for (i, sum) in sums.enumerated() {
            guard case .uint8(let px) = try dataset.image(at: i).pixels else { Issue.record("not uint8"); continue }
            #expect(px.reduce(0) { $0 + Int($1) } == sum, "image \(i)")
        }
        #expect(sums.count == 5)
    }

    @Test func selectionFiltersShufflesAndLimits() throws {
        let dataset = try ImageFolderDataset(path: DataPreprocessingTests.root + "/folder")
        #expect(try DatasetSelection(classes: ["dog"]).indices(in: dataset) == [2, 3, 4, 5])
        #expect(try DatasetSelection(classes: ["0"], limit: 1).indices(in: dataset) == [0])
        let a = try DatasetSelection(shuffleSeed: 42).indices(in: dataset)
        #expect(a.sorted() == Array(0..<6))
        #expect(a != Array(0..<6))
        #expect(try DatasetSelection(shuffleSeed: 42).indices(in: dataset) == a)
        #expect(try DatasetSelection(shuffleSeed: 42, limit: 2).indices(in: dataset) == Array(a.prefix(2)))
        #expect { try DatasetSelection(classes: ["cow"]).indices(in: dataset) } throws: { "\($0)".contains("cow") && "\($0)".contains("dog") }
    }

    @Test(arguments: [0, 1, 2]) func streamingGivesTheSameBatchesWithPrefetch(threads: Int) throws {
        let dataset = try ImageFolderDataset(path: DataPreprocessingTests.root + "/folder")
        let loader = try DatasetLoader(dataset: dataset, preprocessing: Preprocessing(resize: 12, crop: (10, 10), channels: 3),
                                       selection: DatasetSelection(shuffleSeed: 3), batchSize: 4)
        let stream = loader.stream(prefetchThreads: threads)
        var batches = [DataBatch]()
        while let batch = try stream.next() { batches.append(batch) }
        #expect(batches.map { $0.images.shape } == [[4, 3, 10, 10], [2, 3, 10, 10]])
        #expect(batches.flatMap(\.indices) == loader.indices)
        let whole = try DatasetLoader(dataset: dataset, preprocessing: loader.preprocessing, batchSize: 6).batch(0)
        for (i, index) in loader.indices.enumerated() {
            let b = batches[i / 4], j = i % 4, per = 300
            #expect(Array(b.images.data[(j * per)..<((j + 1) * per)]) == Array(whole.images.data[(index * per)..<((index + 1) * per)]))
        }
    }

    static let fashion = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"

    @Test func realFashionMNISTTestSet() throws {
        let dataset = try DatasetFormat.auto.open(path: Self.fashion)
        #expect(dataset.count == 10000)
        #expect(dataset.imageShape == [1, 28, 28])
        #expect(dataset.classNames == BuiltinClassNames.fashionMNIST)
        var counts = [Int](repeating: 0, count: 10)
        for l in dataset.labels { counts[l] += 1 }
        #expect(counts == [Int](repeating: 1000, count: 10))
        // Independent reference: Python's gzip + numpy on the same files.
        let out = try runPython("""
        import gzip, numpy as np
        d = gzip.open('\(Self.fashion)').read(); l = gzip.open('\(Self.fashion.replacingOccurrences(of: "images-idx3", with: "labels-idx1"))').read()
        x = np.frombuffer(d, np.uint8, offset=16).reshape(-1, 28, 28)
        print(int(x[1234].astype(np.int64).sum()), int(x[9999, 14, 3]), l[8 + 1234], l[8 + 9999])
        """)
        let image = try dataset.image(at: 1234)
        let last = try dataset.image(at: 9999)
        guard case .uint8(let px) = image.pixels, case .uint8(let lastPx) = last.pixels else { Issue.record("not uint8"); return }
        #expect(out.trimmingCharacters(in: .whitespacesAndNewlines)
                == "\(px.reduce(0) { $0 + Int($1) }) \(lastPx[14 * 28 + 3]) \(dataset.labels[1234]) \(dataset.labels[9999])")
    }
}
