import Dispatch
import Synchronization

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

/// Running work on a bounded number of threads.
public enum Parallel {
    /// Splits `0..<count` into at most `threads` contiguous chunks and runs `body(chunk, worker)`
    /// on each, concurrently when `threads > 1`.
    public static func chunks(_ count: Int, threads: Int, _ body: @Sendable (Range<Int>, Int) -> Void) {
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
    public static func map<T: Sendable>(_ count: Int, _ body: @Sendable (Int) throws -> T) throws -> [T] {
        var results = [Result<T, any Error>?](repeating: nil, count: count)
        results.withUnsafeMutableBufferPointer { buf in
            let out = SharedPointer(buf.baseAddress!)
            DispatchQueue.concurrentPerform(iterations: count) { i in
                out.base[i] = Result { try body(i) }
            }
        }
        return try results.map { r in
            guard let r else { throw InputError.invalidInput("internal: a parallel task did not run") }
            return try r.get()
        }
    }
}

extension Parallel {
    /// `[body(0), …, body(count − 1)]` computed by at most `workers` threads, each taking the next
    /// index as it finishes one (a slow call or a descheduled thread does not hold the others up);
    /// rethrows the first error (by index) after all calls have returned.
    public static func map<T: Sendable>(_ count: Int, workers: Int, _ body: @Sendable (Int) throws -> T) throws -> [T] {
        let threads = max(1, min(workers, count))
        if threads == 1 { return try (0..<count).map(body) }
        var results = [Result<T, any Error>?](repeating: nil, count: count)
        let next = Atomic<Int>(0)
        results.withUnsafeMutableBufferPointer { buf in
            let out = SharedPointer(buf.baseAddress!)
            DispatchQueue.concurrentPerform(iterations: threads) { _ in
                while case let i = next.add(1, ordering: .relaxed).oldValue, i < count {
                    out.base[i] = Result { try body(i) }
                }
            }
        }
        return try results.map { r in
            guard let r else { throw InputError.invalidInput("internal: a parallel task did not run") }
            return try r.get()
        }
    }
}
