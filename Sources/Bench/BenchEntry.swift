import CommandLineSupport

/// The entry point of `gigtrace-bench`: the same OpenBLAS kernel correction as `gigtrace` (see
/// `OpenBLASCore`) and allocator set-up (`keepFreedMemoryForReuse`), so benchmarks measure what
/// users run, then the benchmark command.
@main
enum BenchEntry {
    static func main() async {
        reexecuteWithBestOpenBLASCore()
        keepFreedMemoryForReuse()
        await BenchCommand.main()
    }
}
