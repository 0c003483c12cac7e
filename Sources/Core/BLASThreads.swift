import COpenBLAS
import Foundation

/// OpenBLAS's thread count is process-wide; the engine sets it through here only.
///
/// The count is capped at `OPENBLAS_NUM_THREADS` when the environment sets it. A process started
/// with `OPENBLAS_NUM_THREADS=1` (the test command) therefore never runs a multi-threaded GEMM —
/// whose rounding of a column depends on how the columns are split between threads — so its
/// numbers do not depend on what else runs in the same process at the same time.
public enum BLASThreads {
    /// `OPENBLAS_NUM_THREADS` if set (at least 1), else no cap.
    static let ceiling: Int = ProcessInfo.processInfo.environment["OPENBLAS_NUM_THREADS"]
        .flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }.map { max(1, $0) } ?? Int.max

    /// Lets OpenBLAS use `count` threads (at least 1, at most the cap).
    public static func use(_ count: Int) {
        openblas_set_num_threads(Int32(max(1, min(count, ceiling))))
    }
}
