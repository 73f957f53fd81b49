import BrokerKit
import Foundation
import Synchronization

/// An `UpstreamClock` that only moves when a test says so; sleepers wake when it passes their
/// deadline, so a scheduler can be walked through many token lifetimes without real waiting.
final class UpstreamTokenTestClock: UpstreamClock, Sendable {
    private struct Waiter {
        let deadline: Date
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var now: Date
        var waiters: [UUID: Waiter] = [:]
        /// Sleeps cancelled before they registered, so they do not wait forever.
        var cancelled: Set<UUID> = []
    }

    private let state: Mutex<State>

    /// Starts on a whole second, because the store keeps whole seconds.
    init(start: Date = Date()) {
        state = Mutex(State(now: Date(timeIntervalSince1970: start.timeIntervalSince1970.rounded(.down))))
    }

    func now() -> Date { state.withLock { $0.now } }

    func advance(seconds: TimeInterval) {
        let due = state.withLock { state -> [CheckedContinuation<Void, any Error>] in
            state.now.addTimeInterval(seconds)
            let now = state.now
            let ready = state.waiters.filter { $0.value.deadline <= now }
            for id in ready.keys { state.waiters[id] = nil }
            return ready.values.map(\.continuation)
        }
        for continuation in due { continuation.resume() }
    }

    func sleep(until deadline: Date) async throws {
        let id = UUID()
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                enum Action { case wait, resume, cancel }
                let action = state.withLock { state -> Action in
                    if state.cancelled.remove(id) != nil { return .cancel }
                    if deadline <= state.now { return .resume }
                    state.waiters[id] = Waiter(deadline: deadline, continuation: continuation)
                    return .wait
                }
                switch action {
                case .wait: break
                case .resume: continuation.resume()
                case .cancel: continuation.resume(throwing: CancellationError())
                }
            }
        } onCancel: {
            let waiter = state.withLock { state -> Waiter? in
                guard let waiter = state.waiters.removeValue(forKey: id) else {
                    state.cancelled.insert(id)
                    return nil
                }
                return waiter
            }
            waiter?.continuation.resume(throwing: CancellationError())
        }
    }
}
