import Core
import Foundation

/// Makes OpenBLAS run the best kernels this CPU supports, for both executables' entry points.
///
/// When OpenBLAS chose a weaker kernel set than the CPU's flags allow and the user did not set
/// `OPENBLAS_CORETYPE`, replaces this process by itself (`/proc/self/exe`, same arguments) with
/// `OPENBLAS_CORETYPE` set: OpenBLAS reads it only when the library loads. The marker variable
/// makes this happen at most once; `gigtrace doctor` reports it. Returns when nothing is to be
/// done or the re-execution failed.
///
/// ```swift
/// @main enum Entry { static func main() async { reexecuteWithBestOpenBLASCore(); await MyCommand.main() } }
/// ```
public func reexecuteWithBestOpenBLASCore() {
    guard case .reexecute(let core) = OpenBLASCore.decideForThisProcess() else { return }
    setenv(OpenBLASCore.reexecMarkerVariable, OpenBLASCore.running, 1)
    setenv(OpenBLASCore.coreTypeVariable, core, 1)
    execv("/proc/self/exe", CommandLine.unsafeArgv)
    // exec failed (no /proc): carry on with the kernels we have, and leave the environment as it was.
    unsetenv(OpenBLASCore.coreTypeVariable)
    unsetenv(OpenBLASCore.reexecMarkerVariable)
}
