import ArgumentParser
import Foundation
import GIGTrace

/// The process entry point: first makes sure OpenBLAS runs the best kernels this CPU supports
/// (re-executing once if it does not, see `OpenBLASCore`), then runs the `gigtrace` command.
@main
enum Entry {
    static func main() async {
        reexecuteWithBestOpenBLASCore()
        await GIGTraceCommand.main()
    }

    /// When OpenBLAS chose a weaker kernel set than the CPU supports and the user did not set
    /// `OPENBLAS_CORETYPE`, replaces this process by itself (`/proc/self/exe`, same arguments)
    /// with `OPENBLAS_CORETYPE` set: OpenBLAS reads it only when the library loads. The marker
    /// variable makes this happen at most once; `gigtrace doctor` reports it.
    static func reexecuteWithBestOpenBLASCore() {
        guard case .reexecute(let core) = OpenBLASCore.decideForThisProcess() else { return }
        setenv(OpenBLASCore.reexecMarkerVariable, OpenBLASCore.running, 1)
        setenv(OpenBLASCore.coreTypeVariable, core, 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        // exec failed (no /proc): carry on with the kernels we have, and leave the environment as it was.
        unsetenv(OpenBLASCore.coreTypeVariable)
        unsetenv(OpenBLASCore.reexecMarkerVariable)
    }
}
