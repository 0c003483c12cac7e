import CommandLineSupport

/// The process entry point: first makes sure OpenBLAS runs the best kernels this CPU supports
/// (re-executing once if it does not, see `OpenBLASCore`), makes freed memory stay for reuse (see
/// `keepFreedMemoryForReuse`), then runs the `gigtrace` command.
@main
enum Entry {
    static func main() async {
        reexecuteWithBestOpenBLASCore()
        keepFreedMemoryForReuse()
        await GIGTraceCommand.main()
    }
}
