import Foundation
import TestSupport
import Testing
@testable import CNN
@testable import Core

/// `.npy` files written by NumPy itself (via python3) are the independent reference here.
@Suite struct NpyTests {
    let dir: String

    init() throws { dir = try makeTemporaryFolder("npy-tests") }

    @Test func readsArraysNumPyWrote() throws {
        _ = try runPython("""
        import numpy as np
        np.save('\(dir)/f.npy', np.arange(24, dtype=np.float32).reshape(2,3,4) / 7)
        np.save('\(dir)/d.npy', np.array([1.5, -2.25]))
        np.save('\(dir)/u.npy', np.array([[0, 255]], dtype=np.uint8))
        np.save('\(dir)/i.npy', np.array([3, -1, 2**40], dtype=np.int64))
        np.save('\(dir)/s.npy', np.float32(4.0))
        """)
        let f = try Npy.read(path: "\(dir)/f.npy")
        #expect(f.shape == [2, 3, 4])
        #expect(f.values == .float32((0..<24).map { Float($0) / 7 }))
        #expect(try Npy.read(path: "\(dir)/d.npy").values == .float64([1.5, -2.25]))
        #expect(try Npy.read(path: "\(dir)/u.npy") == NpyArray(shape: [1, 2], values: .uint8([0, 255])))
        #expect(try Npy.read(path: "\(dir)/i.npy").values == .int64([3, -1, 1 << 40]))
        #expect(try Npy.read(path: "\(dir)/s.npy").shape == [])
    }

    @Test func numPyReadsWhatWeWrite() throws {
        try Npy.write(Tensor(shape: [2, 2], data: [1, 2, 3, 0.5]), to: "\(dir)/w.npy")
        try Npy.write(int64: [7, -8, 9], shape: [3], to: "\(dir)/wi.npy")
        let out = try runPython("""
        import numpy as np
        a = np.load('\(dir)/w.npy'); b = np.load('\(dir)/wi.npy')
        print(a.dtype, a.shape, a.ravel().tolist(), b.dtype, b.shape, b.tolist())
        """)
        #expect(out.trimmingCharacters(in: .whitespacesAndNewlines)
                == "float32 (2, 2) [1.0, 2.0, 3.0, 0.5] int64 (3,) [7, -8, 9]")
    }

    @Test func rejectsBadFilesWithTheirPath() throws {
        #expect(throws: InputError.fileNotFound("\(dir)/missing.npy")) { try Npy.read(path: "\(dir)/missing.npy") }
        try Data("hello".utf8).write(to: URL(fileURLWithPath: "\(dir)/bad.npy"))
        #expect { try Npy.read(path: "\(dir)/bad.npy") } throws: { "\($0)".contains("bad.npy") }
        // A truncated payload: the header promises 6 floats, the file holds 5.
        let whole = Npy.encode(descr: "<f4", shape: [2, 3], body: Data(count: 24))
        try whole.dropLast(4).write(to: URL(fileURLWithPath: "\(dir)/short.npy"))
        #expect { try Npy.read(path: "\(dir)/short.npy") } throws: { "\($0)".contains("expected 24 bytes") }
        // A dtype we do not read is named in the error.
        try Npy.encode(descr: ">f4", shape: [1], body: Data(count: 4)).write(to: URL(fileURLWithPath: "\(dir)/be.npy"))
        #expect { try Npy.read(path: "\(dir)/be.npy") } throws: { "\($0)".contains("'>f4'") }
    }
}
