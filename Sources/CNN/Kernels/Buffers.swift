import Core

/// Small helpers for building `[Float]` buffers without a redundant zero fill.
public enum Buffers {
    /// An array of `count` elements, every one written by `body` (which gets the raw buffer).
    @inline(__always)
    public static func make(_ count: Int, _ body: (UnsafeMutableBufferPointer<Float>) throws -> Void) rethrows -> [Float] {
        try [Float](unsafeUninitializedCapacity: count) { buf, n in
            try body(buf)
            n = count
        }
    }

    /// `[N*T, ...]` from `[N, ...]`: each sample (block of `count / n` elements) repeated `t` times.
    static func tile(_ x: Tensor, times t: Int) -> Tensor {
        if t == 1 { return x }
        let n = x.shape.first ?? 1
        let per = n == 0 ? 0 : x.count / n
        var shape = x.shape
        shape[0] = n * t
        let data = make(x.count * t) { out in
            x.data.withUnsafeBufferPointer { src in
                for i in 0..<n {
                    for r in 0..<t {
                        (out.baseAddress! + (i * t + r) * per).update(from: src.baseAddress! + i * per, count: per)
                    }
                }
            }
        }
        return Tensor(uncheckedShape: shape, data: data)
    }
}
