import Foundation

/// Which signal asked the trace to stop, set from the signal sources' queue and read by the loop.
public final class StopRequest: @unchecked Sendable {
    private let lock = NSLock()
    private var received: Int32?

    public init() {}

    /// Records `signal`; true the first time.
    public func request(_ signal: Int32) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard received == nil else { return false }
        received = signal
        return true
    }

    public var signal: Int32? {
        lock.lock()
        defer { lock.unlock() }
        return received
    }
}
