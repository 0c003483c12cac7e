import Testing
@testable import CNN
@testable import Core

@Suite struct TensorTests {
    @Test func rejectsMismatchedElementCount() {
        #expect(throws: InputError.self) { try Tensor(shape: [2, 3], data: [1, 2, 3]) }
    }

    @Test func stridesAreRowMajor() {
        #expect(Tensor.strides([2, 3, 4]) == [12, 4, 1])
        #expect(Tensor.strides([]) == [])
    }

    @Test func batchSliceAndConcatenateRoundTrip() throws {
        let t = try Tensor(shape: [3, 2], data: [0, 1, 2, 3, 4, 5])
        let a = t.slice(batch: 0..<1), b = t.slice(batch: 1..<3)
        #expect(a.data == [0, 1])
        #expect(b.shape == [2, 2])
        #expect(try Tensor.concatenate(batches: [a, b]) == t)
    }
}
