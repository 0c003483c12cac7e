import Foundation
import TestSupport
import Testing
@testable import CNN
@testable import Core
@testable import Datasets
@testable import ImageIO

/// The crashes, hangs and memory blow-ups of issue 12, each as the one-line error it now gives.
/// The hostile files come from `tools/make_fuzz_corpus.py` (Tests/Fixtures/fuzz).
@Suite struct HardeningTests {
    static let fuzz = TestPaths.fixture("fuzz")
    let dir: String
    init() throws { dir = try makeTemporaryFolder("hardening-tests") }

    func message(_ body: () throws -> Void) -> String {
        do { try body(); return "no error" } catch { return "\(error)" }
    }

    // MARK: checked arithmetic

    /// Property: `checkedProduct` equals the exact product (computed in Double, exact below 2⁵³)
    /// when that fits in Int, and is nil exactly when an extent is negative or the product overflows.
    @Test func checkedProductAgreesWithExactArithmetic() {
        var rng = SplitMix64(seed: 12)
        for _ in 0..<5000 {
            let rank = Int(rng.next() % 5)
            let shape = (0..<rank).map { _ -> Int in
                switch rng.next() % 4 {
                case 0: return Int(rng.next() % 8)
                case 1: return Int(rng.next() % (1 << 20))
                case 2: return Int(rng.next() % (1 << 34))
                default: return rng.next() % 16 == 0 ? -Int(rng.next() % 5) - 1 : Int(rng.next() % 100)
                }
            }
            let exact = shape.reduce(Double(1)) { $0 * Double($1) }
            let got = SizeLimits.checkedProduct(shape)
            if shape.contains(where: { $0 < 0 }) {
                #expect(got == nil, "\(shape)")
            } else if shape.contains(0) {
                #expect(got == 0, "\(shape)")
            } else if exact < 9.0e15 {
                #expect(got.map(Double.init) == exact, "\(shape)")
            } else if exact > 9.3e18 {
                #expect(got == nil, "\(shape)")
            }
        }
        #expect(SizeLimits.checkedProduct([1 << 32, 1 << 32]) == nil)
        #expect(SizeLimits.checkedProduct([]) == 1)
        let limits = SizeLimits(maxTensorElements: 100, maxImagePixels: 100, maxInflatedBytes: 100, maxClasses: 10)
        #expect(message { _ = try limits.checkedElementCount([11, 10], what: "t") }.contains("110 elements, above the limit of 100 (raise it with GIGTRACE_MAX_TENSOR_ELEMENTS)"))
        #expect(message { _ = try limits.checkedElementCount([2, -1], what: "t") } == "t has a negative dimension -1 in shape [2, -1]")
        #expect(message { try limits.checkImage(width: 11, height: 10, what: "PNG header") }.contains("11×10 pixels, above the limit of 100"))
    }

    // MARK: ONNX

    @Test func onnxSizesAreCheckedBeforeAllocating() {
        func load(_ name: String) -> String { message { _ = try Model.load(path: "\(Self.fuzz)/onnx/\(name)") } }
        #expect(load("init_dims_overflow.onnx").contains("tensor 'w' of shape [4294967296, 4294967296] has more elements than this machine can count"))
        #expect(load("init_negative_dim.onnx").contains("tensor 'w' has a negative dimension"))
        #expect(load("init_huge.onnx").contains("above the limit of 2147483648"))
        #expect(load("input_negative_dim.onnx").contains("model input 'x' has a negative dimension -3"))
        #expect(load("input_100000x100000.onnx").contains("model input 'x' of shape [1, 1, 100000, 100000] has 10000000000 elements, above the limit"))
        #expect(load("external_offset_overflow.onnx").contains("weights.bin: external data for tensor 'w' has offset 9223372036854775800 outside the file (72 bytes)"))
        #expect(load("external_past_end.onnx").contains("(offset 40, length 72) runs past the end of the file (72 bytes)"))
        #expect(load("external_dot.onnx") == "\(Self.fuzz)/onnx/external_dot.onnx: external data of tensor 'w' names a folder ('.'), not a file")
        #expect(load("external_traversal.onnx").contains("points outside the model's folder (../weights.bin)"))
    }

    @Test func graphCycleAndMissingProducerNameTheTensor() {
        func load(_ name: String) -> String { message { _ = try Model.load(path: "\(Self.fuzz)/onnx/\(name)") } }
        #expect(load("cycle.onnx") == "\(Self.fuzz)/onnx/cycle.onnx: node 'r' reads tensor 'g', which is produced only by a later node (the graph has a cycle or is not in topological order)")
        #expect(load("missing_producer.onnx").contains("reads tensor 'nowhere', which no node, initializer or graph input provides"))
    }

    /// External data is read as the tensor's byte range only: a 64 MB weights file holding a
    /// 72-byte tensor at an offset costs 72 bytes, and a length differing from the tensor's is refused.
    @Test func externalDataIsReadBounded() throws {
        let weights = Data(repeating: 0, count: 1 << 26) + Data((0..<18).flatMap { withUnsafeBytes(of: Float($0)) { Array($0) } })
        try weights.write(to: URL(fileURLWithPath: "\(dir)/big.bin"))
        let script = """
            import sys, onnx
            from onnx import TensorProto, helper
            m = onnx.load(sys.argv[1])
            w = m.graph.initializer[0]
            w.ClearField('raw_data'); w.data_location = TensorProto.EXTERNAL
            del w.external_data[:]
            for k, v in (('location', 'big.bin'), ('offset', str(1 << 26)), ('length', sys.argv[3])):
                e = w.external_data.add(); e.key, e.value = k, v
            onnx.save(m, sys.argv[2])
            """
        _ = try runPython(script, arguments: ["\(Self.fuzz)/onnx/seed.onnx", "\(dir)/ext.onnx", "72"])
        let model = try OnnxReader.read(path: "\(dir)/ext.onnx")
        guard case .float(let w)? = model.graph.initializers["w"] else { Issue.record("no float initializer w"); return }
        #expect(w.data == (0..<18).map(Float.init))
        _ = try runPython(script, arguments: ["\(Self.fuzz)/onnx/seed.onnx", "\(dir)/short.onnx", "68"])
        #expect(message { _ = try OnnxReader.read(path: "\(dir)/short.onnx") }.contains("external data for tensor 'w' is 68 bytes, the tensor needs 72"))
    }

    // MARK: npy, IDX, gzip

    @Test func npyAndIdxHeadersAreCheckedBeforeAllocating() {
        #expect(message { _ = try Npy.read(path: "\(Self.fuzz)/npy/huge_dims.npy") }.contains("huge_dims.npy: array of shape [1099511627776, 1099511627776] has more elements than this machine can count"))
        #expect(message { _ = try NpyImageDataset(path: "\(Self.fuzz)/npy/huge_dims.npy", labelsPath: nil) }.contains("huge_dims.npy: "))
        #expect(message { _ = try NpyImageDataset(path: "\(Self.fuzz)/npy/big_but_truncated.npy", labelsPath: nil) }.contains("truncated .npy: shape [1000, 3, 224, 224] needs 602112000 bytes"))
        #expect(message { _ = try IdxDataset(path: "\(Self.fuzz)/idx/huge-images-idx3-ubyte") }.contains("huge-images-idx3-ubyte: IDX images of shape [4294967295, 4294967295, 4294967295] has more elements"))
        #expect(message { _ = try IdxDataset(path: "\(Self.fuzz)/idx/huge-images-idx3-ubyte.gz") }.contains("huge-images-idx3-ubyte.gz: IDX data of shape"))
    }

    /// Labels index classes: 2⁴⁰ or 10⁸ used to allocate a class list that large (a crash, a
    /// 4.7 GB hang); now one error before anything is allocated.
    @Test func npyLabelsOutsideTheClassLimitAreRefused() {
        let images = "\(Self.fuzz)/npy/one_image.npy"
        for (file, value) in [("labels_2pow40.npy", "1099511627776"), ("labels_1e8.npy", "100000000"), ("labels_negative.npy", "-5")] {
            let start = Date()
            #expect(message { _ = try NpyImageDataset(path: images, labelsPath: "\(Self.fuzz)/npy/\(file)") }
                == "\(Self.fuzz)/npy/\(file): label \(value) of image 0 is outside -1..<1000000 (raise the limit with GIGTRACE_MAX_CLASSES)")
            #expect(Date().timeIntervalSince(start) < 10)
        }
        #expect(message { _ = try NpyImageDataset(path: images, labelsPath: "\(Self.fuzz)/npy/labels_float.npy") }.contains("expected an int64 array, found float32"))
    }

    /// A 65 KB gzip whose stream inflates to 64 MB after a 2-image IDX header is inflated only as
    /// far as the header says the data reaches (48 bytes).
    @Test func gzipIsInflatedOnlyAsFarAsTheHeaderReaches() throws {
        let dataset = try IdxDataset(path: "\(Self.fuzz)/idx/bomb-images-idx3-ubyte.gz")
        #expect(dataset.count == 2 && dataset.pixels.count == 16 + 32)
        let image = try dataset.image(at: 1)
        #expect(image.pixels == .uint8((16..<32).map(UInt8.init)))
        let limits = SizeLimits(maxTensorElements: 1 << 20, maxImagePixels: 1 << 20, maxInflatedBytes: 1000, maxClasses: 10)
        #expect(message { _ = try Gzip.read(path: "\(Self.fuzz)/idx/bomb-images-idx3-ubyte.gz", limit: 5000, limits: limits) }
            .contains("would inflate to 5000 bytes, above the limit of 1000 (raise it with GIGTRACE_MAX_INFLATED_BYTES)"))
        #expect(message { _ = try IdxDataset(path: "\(Self.fuzz)/idx/truncated-gz-images-idx3-ubyte.gz") }.contains("truncated-gz-images-idx3-ubyte.gz"))
    }

    // MARK: images

    @Test func imageHeaderBombsAreRefusedBeforeDecoding() throws {
        #expect(message { _ = try ImageDecoder.decode(path: "\(Self.fuzz)/png/header_bomb_100000x100000.png") }
            == "\(Self.fuzz)/png/header_bomb_100000x100000.png: PNG header declares 100000×100000 pixels, above the limit of 268435456 (raise it with GIGTRACE_MAX_IMAGE_PIXELS)")
        #expect(message { _ = try ImageDecoder.decode(path: "\(Self.fuzz)/jpeg/header_bomb_65500x65500.jpg") }
            == "\(Self.fuzz)/jpeg/header_bomb_65500x65500.jpg: JPEG header declares 65500×65500 pixels, above the limit of 268435456 (raise it with GIGTRACE_MAX_IMAGE_PIXELS)")
        // The limit is a parameter: the 8×8 seed JPEG passes at 64 pixels and not at 63.
        let small = SizeLimits(maxTensorElements: 1 << 20, maxImagePixels: 63, maxInflatedBytes: 1 << 20, maxClasses: 10)
        #expect(message { _ = try ImageDecoder.decode(path: "\(Self.fuzz)/jpeg/seed.jpg", limits: small) }.contains("8×8 pixels, above the limit of 63"))
        var enough = small
        enough.maxImagePixels = 64
        #expect(try ImageDecoder.decode(path: "\(Self.fuzz)/jpeg/seed.jpg", limits: enough).width == 8)
    }

    /// A folder with a PNG and a JPEG header bomb beside good images: strict loading names the
    /// bomb, `--skip-bad` loads the good images and reports both bombs.
    @Test func skipBadSkipsHeaderBombs() throws {
        let root = "\(dir)/bombs"
        try FileManager.default.copyItem(atPath: DataPreprocessingTests.root + "/folder", toPath: root)
        try FileManager.default.copyItem(atPath: "\(Self.fuzz)/png/header_bomb_100000x100000.png", toPath: "\(root)/dog/bomb.png")
        try FileManager.default.copyItem(atPath: "\(Self.fuzz)/jpeg/header_bomb_65500x65500.jpg", toPath: "\(root)/cat/bomb.jpg")
        let dataset = try ImageFolderDataset(path: root)
        let p = Preprocessing(resize: 8, crop: (8, 8), channels: 3)
        let strict = try DatasetLoader(dataset: dataset, preprocessing: p, batchSize: 16)
        #expect(message { _ = try strict.batch(0) }.contains("bomb.jpg: JPEG header declares 65500×65500 pixels"))
        let lenient = try DatasetLoader(dataset: dataset, preprocessing: p, batchSize: 16, skipBad: true)
        let batch = try lenient.batch(0)
        #expect(batch.images.shape == [dataset.count - 2, 3, 8, 8])
        #expect(batch.skipped.count == 2 && batch.skipped.allSatisfy { $0.contains("bomb.") && $0.contains("above the limit") })
    }

    @Test func resizeAndCropAreBoundedByThePixelLimit() {
        #expect(message { try Preprocessing(resize: 200000).validate() }.contains("resize 200000 makes images of at least 200000×200000 pixels, above the limit of 268435456"))
        #expect(message { try Preprocessing(crop: (100000, 100000)).validate() }.contains("crop 100000x100000 is above the limit"))
        #expect((try? Preprocessing(resize: 224, crop: (224, 224)).validate()) != nil)
    }

    /// NaN pixels are named with the image index; `skipBad` leaves the image out.
    @Test func nonFiniteImagesAreNamed() throws {
        let dataset = try NpyImageDataset(path: "\(Self.fuzz)/npy/nan_image.npy", labelsPath: nil)
        let strict = try DatasetLoader(dataset: dataset, preprocessing: Preprocessing(), batchSize: 1)
        #expect(message { _ = try strict.batch(0) } == "\(Self.fuzz)/npy/nan_image.npy#0: image 0 contains a non-finite value (nan) after preprocessing")
        let lenient = try DatasetLoader(dataset: dataset, preprocessing: Preprocessing(), batchSize: 1, skipBad: true)
        let batch = try lenient.batch(0)
        #expect(batch.indices.isEmpty && batch.skipped.count == 1)
    }

    // MARK: folders

    /// Two link loops in one class folder used to hang (and one loop counted an image 41 times).
    @Test func symlinkLoopsAreNamedAndSharedFoldersListedOnce() throws {
        let root = "\(dir)/links"
        try FileManager.default.copyItem(atPath: DataPreprocessingTests.root + "/folder", toPath: root)
        let clean = try ImageFolderDataset(path: root).count
        // A second link to the same real folder: its images are listed once.
        try FileManager.default.createDirectory(atPath: "\(root)/dog/sub", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "\(root)/dog/d_rgb.jpg", toPath: "\(root)/dog/sub/copy.jpg")
        try FileManager.default.createSymbolicLink(atPath: "\(root)/dog/again", withDestinationPath: "sub")
        #expect(try ImageFolderDataset(path: root).count == clean + 1)
        // Loops back to the class folder.
        try FileManager.default.createSymbolicLink(atPath: "\(root)/dog/sub/loop1", withDestinationPath: "..")
        try FileManager.default.createSymbolicLink(atPath: "\(root)/dog/sub/loop2", withDestinationPath: "../sub")
        let start = Date()
        #expect(message { _ = try ImageFolderDataset(path: root) }.contains("symbolic link loop (leads back to"))
        #expect(Date().timeIntervalSince(start) < 10)
    }

    @Test func classNamesKeepOddWhitespaceInsideNames() throws {
        #expect(try BuiltinClassNames.read(path: "\(Self.fuzz)/classes/vertical_tab.txt") == ["cat\u{0B}dog", "bird", "fish\u{2028}eel"])
    }

    // MARK: files

    @Test func readingAFolderOrFullDiskSaysSoInOneLine() throws {
        #expect(message { _ = try AtomicFile.read(dir) } == "\(dir): is a folder, not a file")
        #expect(AtomicFile.reason(NSError(domain: NSPOSIXErrorDomain, code: Int(ENOSPC))) == "No space left on device")
        #expect(AtomicFile.reason(NSError(domain: NSCocoaErrorDomain, code: NSFileWriteOutOfSpaceError)) == "No space left on device")
        let wrapped = NSError(domain: NSCocoaErrorDomain, code: 512, userInfo: [NSUnderlyingErrorKey: NSError(domain: NSPOSIXErrorDomain, code: Int(ENOSPC))])
        #expect(AtomicFile.reason(wrapped) == "No space left on device")
    }

    /// Temporary files of a killed writer (a PID that no longer runs) are removed by the next write
    /// to the same output; those of a live process and unrelated hidden files stay.
    @Test func staleTemporaryFilesAreCleanedOnTheNextRun() throws {
        let out = "\(dir)/x.npy"
        let dead = Process()
        dead.executableURL = URL(fileURLWithPath: "/bin/true")
        try dead.run()
        dead.waitUntilExit()
        let deadPID = dead.processIdentifier
        let live = ProcessInfo.processInfo.processIdentifier
        for name in [".x.npy.\(deadPID).body", ".x.npy.\(deadPID).tmp", ".x.npy.1.body", ".x.npy.\(live).keep", ".other.\(deadPID).tmp"] {
            _ = FileManager.default.createFile(atPath: "\(dir)/\(name)", contents: Data(count: 10))
        }
        do {
            let writer = try NpyBatchWriter(path: out)
            try writer.append(Tensor(shape: [1, 1, 2, 2], repeating: 1))
            try writer.finish()
        }
        let left = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        // PID 1 (init) is alive: its file stays; the dead PID's are gone.
        #expect(left == [".other.\(deadPID).tmp", ".x.npy.1.body", ".x.npy.\(live).keep", "x.npy"])
    }
}

extension HardeningTests {
    /// Found by tools/fuzz.sh: an IDX file of 4·10⁹ images of 0×16777215 pixels passed the size
    /// check (0 bytes of pixels) and then sized a 32 GB label list.
    @Test func emptyImagesCannotDeclareAHugeCount() {
        #expect(message { _ = try IdxDataset(path: "\(Self.fuzz)/idx/empty_images_huge_n-images-idx3-ubyte") }.contains("IDX images of 0×16777215 pixels are empty"))
        #expect(message { _ = try NpyImageDataset(path: "\(Self.fuzz)/npy/empty_images_huge_n.npy", labelsPath: nil) }.contains("shape [4000000000, 0, 4] holds empty images"))
    }
}
