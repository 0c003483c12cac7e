import ArgumentParser
import Foundation

/// Runs a subcommand body; any error is printed as one line on stderr and the process exits 1.
public func reportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let e as ExitCode {
        throw e
    } catch {
        FileHandle.standardError.write(Data("error: \(error)\n".utf8))
        throw ExitCode(1)
    }
}
