import Foundation

/// Where the token manager reads wall-clock time and waits for scheduled refreshes. Injected so
/// tests can move through many token lifetimes without waiting for them. Wall-clock time
/// (not a monotonic clock) because token expiries are wall-clock dates shared with Forgejo and
/// other broker processes.
public protocol UpstreamClock: Sendable {
    func now() -> Date
    /// Returns at `deadline`, at once if it has passed; throws `CancellationError` when the
    /// calling task is cancelled.
    func sleep(until deadline: Date) async throws
}

/// The real clock.
public struct SystemUpstreamClock: UpstreamClock {
    public init() {}

    public func now() -> Date { Date() }

    public func sleep(until deadline: Date) async throws {
        let interval = deadline.timeIntervalSinceNow
        if interval > 0 { try await Task.sleep(for: .seconds(interval)) }
    }
}
