/// A dense Float32 tensor in row-major (C) order. Images are NCHW.
///
/// A value type: copies share storage until one of them is written (copy-on-write of `[Float]`).
/// `shape.reduce(1, *) == data.count` always holds; the initialisers that take user data check it
/// and throw, the unchecked one is for code that has just computed a matching buffer.
public struct Tensor: Sendable, Equatable {
    /// Extent of each axis, outermost first. A scalar has shape `[]` and one element.
    public var shape: [Int]
    /// The elements, last axis fastest.
    public var data: [Float]

    /// Wraps `data` as `shape`; throws when the element count does not match.
    public init(shape: [Int], data: [Float]) throws {
        guard let n = SizeLimits.checkedProduct(shape), n == data.count else {
            throw InputError.shapeMismatch("tensor of shape \(shape) does not hold \(data.count) elements")
        }
        self.shape = shape
        self.data = data
    }

    /// Wraps `data` as `shape` without checking; the caller guarantees the count matches.
    public init(uncheckedShape shape: [Int], data: [Float]) {
        assert(Tensor.elementCount(shape) == data.count, "shape \(shape) vs \(data.count) elements")
        self.shape = shape
        self.data = data
    }

    /// A tensor of `shape` filled with `value` (zero by default).
    public init(shape: [Int], repeating value: Float = 0) {
        self.shape = shape
        self.data = [Float](repeating: value, count: Tensor.elementCount(shape))
    }

    /// A rank-0 tensor holding one value.
    public init(scalar: Float) {
        self.shape = []
        self.data = [scalar]
    }

    /// Number of elements.
    public var count: Int { data.count }
    /// Number of axes.
    public var rank: Int { shape.count }

    /// Product of the extents (1 for a scalar).
    public static func elementCount(_ shape: [Int]) -> Int { shape.reduce(1, *) }

    /// Row-major strides of `shape`, in elements.
    public static func strides(_ shape: [Int]) -> [Int] {
        var s = [Int](repeating: 1, count: shape.count)
        var acc = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) {
            s[i] = acc
            acc *= shape[i]
        }
        return s
    }

    /// The same elements viewed with another shape of equal element count.
    public func reshaped(_ newShape: [Int]) throws -> Tensor {
        try Tensor(shape: newShape, data: data)
    }

    /// Images `range` of the outermost (batch) axis, as a new tensor.
    public func slice(batch range: Range<Int>) -> Tensor {
        precondition(!shape.isEmpty && range.lowerBound >= 0 && range.upperBound <= shape[0])
        let per = shape.dropFirst().reduce(1, *)
        var s = shape
        s[0] = range.count
        return Tensor(uncheckedShape: s, data: Array(data[(range.lowerBound * per)..<(range.upperBound * per)]))
    }

    /// Concatenates tensors along the batch (outermost) axis; all other extents must agree.
    public static func concatenate(batches parts: [Tensor]) throws -> Tensor {
        guard let first = parts.first else { throw InputError.invalidInput("cannot concatenate zero tensors") }
        let inner = Array(first.shape.dropFirst())
        var n = 0
        var out = [Float]()
        out.reserveCapacity(parts.reduce(0) { $0 + $1.count })
        for p in parts {
            guard Array(p.shape.dropFirst()) == inner else {
                throw InputError.shapeMismatch("cannot concatenate batches of shape \(first.shape) and \(p.shape)")
            }
            n += p.shape.first ?? 0
            out.append(contentsOf: p.data)
        }
        return Tensor(uncheckedShape: [n] + inner, data: out)
    }
}

/// A dense Int64-valued tensor (ONNX shape arithmetic, indices, labels), row-major.
public struct IntTensor: Sendable, Equatable {
    public var shape: [Int]
    public var data: [Int]

    /// Wraps `data` as `shape`; throws when the element count does not match.
    public init(shape: [Int], data: [Int]) throws {
        guard let n = SizeLimits.checkedProduct(shape), n == data.count else {
            throw InputError.shapeMismatch("int tensor of shape \(shape) does not hold \(data.count) elements")
        }
        self.shape = shape
        self.data = data
    }
}
