import Dispatch

/// A raw pointer that may cross into worker closures: the caller guarantees that workers touch
/// disjoint regions and that the buffer outlives the parallel loop.
public struct SharedPointer<T>: @unchecked Sendable {
    public let base: UnsafeMutablePointer<T>
    public init(_ base: UnsafeMutablePointer<T>) { self.base = base }
}

/// Read-only counterpart of `SharedPointer`.
public struct SharedConstPointer<T>: @unchecked Sendable {
    public let base: UnsafePointer<T>
    public init(_ base: UnsafePointer<T>) { self.base = base }
}

enum Parallel {
    /// Splits `0..<count` into at most `threads` contiguous chunks and runs `body(chunk, worker)`
    /// on each, concurrently when `threads > 1`.
    static func chunks(_ count: Int, threads: Int, _ body: @Sendable (Range<Int>, Int) -> Void) {
        let workers = max(1, min(threads, count))
        if workers == 1 { body(0..<count, 0); return }
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            let lo = count * w / workers, hi = count * (w + 1) / workers
            body(lo..<hi, w)
        }
    }
}

extension Parallel {
    /// `[body(0), …, body(count − 1)]`, the calls running concurrently; rethrows the first error
    /// (by index) after all calls have returned.
    static func map<T: Sendable>(_ count: Int, _ body: @Sendable (Int) throws -> T) throws -> [T] {
        var results = [Result<T, any Error>?](repeating: nil, count: count)
        results.withUnsafeMutableBufferPointer { buf in
            let out = SharedPointer(buf.baseAddress!)
            DispatchQueue.concurrentPerform(iterations: count) { i in
                out.base[i] = Result { try body(i) }
            }
        }
        return try results.map { r in
            guard let r else { throw CNNError.invalidInput("internal: a parallel task did not run") }
            return try r.get()
        }
    }
}
