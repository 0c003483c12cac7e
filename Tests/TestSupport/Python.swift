import Foundation

/// Runs python3 (with numpy, scipy, onnx and Pillow, installed by `.ci/run`) as an independent
/// reference. Returns stdout; throws with stderr when the script fails.
///
///     let sum = try runPython("import numpy as np; print(np.arange(4).sum())")
public func runPython(_ code: String, arguments: [String] = []) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", "-c", code] + arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw PythonFailure(message: String(decoding: stderr, as: UTF8.self))
    }
    return String(decoding: stdout, as: UTF8.self)
}

public struct PythonFailure: Error, CustomStringConvertible {
    public let message: String
    public var description: String { "python3 failed: \(message)" }
}
