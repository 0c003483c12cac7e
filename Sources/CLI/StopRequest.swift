import Foundation

/// Which signal asked the trace to stop, set from the signal sources' queue and read by the loop.
final class StopRequest: @unchecked Sendable {
    private let lock = NSLock()
    private var received: Int32?

    /// Records `signal`; true the first time.
    func request(_ signal: Int32) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard received == nil else { return false }
        received = signal
        return true
    }

    var signal: Int32? {
        lock.lock()
        defer { lock.unlock() }
        return received
    }
}
