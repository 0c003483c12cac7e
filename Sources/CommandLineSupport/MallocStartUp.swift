import CMalloc

/// Makes glibc's allocator keep freed memory for reuse, for both executables' entry points (the
/// libraries never set process-wide state; this is the executables' choice).
///
/// The engine allocates each activation and cotangent buffer afresh in every pass: tens of MB per
/// tensor at ImageNet size. By default glibc serves such blocks with `mmap` and returns them to the
/// kernel on `free`, and each worker thread has its own arena whose heaps are unmapped when empty,
/// so the next pass faults every page in again (zeroed by the kernel). With one arena, no
/// `mmap`-served blocks and no trimming, freed blocks stay in the process and the next pass of the
/// same shapes reuses them. `gigtrace-bench engine`, batch 16, 2 threads (4 forward and 4 forward +
/// gradient passes): ResNet-50 2.43 M minor faults and 6.5 s of system time in 29 s of CPU before,
/// 0.49 M (the first touch of the peak footprint) and 1.4 s after, for 2–3 % more peak RSS;
/// ResNet-18 790 k faults and 2.1 s before, 160 k and 0.5 s after. The price is that the process
/// keeps its peak footprint until it exits, as PyTorch's caching allocator does. One arena costs
/// nothing measurable: the engine allocates few, large blocks, and glibc's per-thread caches serve
/// small ones without the arena's lock (`gigtrace-bench dataset`, 300 JPEGs, two prefetch threads:
/// 273–319 img/s before, 310–311 after, 3 runs each at load 7).
///
/// ```swift
/// @main enum Entry { static func main() async { keepFreedMemoryForReuse(); await MyCommand.main() } }
/// ```
public func keepFreedMemoryForReuse() {
    #if os(Linux)
    _ = mallopt(M_ARENA_MAX, 1)
    _ = mallopt(M_MMAP_MAX, 0)
    _ = mallopt(M_TRIM_THRESHOLD, Int32.max)
    #endif
}
