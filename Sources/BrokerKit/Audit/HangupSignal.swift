import Dispatch
import Foundation
import Synchronization

/// SIGHUP for the whole process: one dispatch source, made at the first `watch` and never
/// cancelled, that calls every current watcher. Why not a source per watcher: on Linux,
/// libdispatch delivered the signal to no later source once one source for it had been
/// cancelled, so a second audit trail in one process (tests; a broker restarted in-process)
/// never reopened its file. Installing the source also replaces SIGHUP's default action
/// (ending the process).
enum HangupSignal {
    private struct Watchers {
        var source: (any DispatchSourceSignal)?
        var handlers: [Int: @Sendable () -> Void] = [:]
        var nextID = 0
    }

    private static let watchers = Mutex(Watchers())

    /// Calls `handler` at every SIGHUP until `unwatch` with the returned id.
    static func watch(_ handler: @escaping @Sendable () -> Void) -> Int {
        watchers.withLock { state in
            if state.source == nil {
                signal(SIGHUP, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
                source.setEventHandler {
                    for handler in Self.watchers.withLock({ Array($0.handlers.values) }) { handler() }
                }
                source.resume()
                state.source = source
            }
            state.nextID += 1
            state.handlers[state.nextID] = handler
            return state.nextID
        }
    }

    static func unwatch(_ id: Int) {
        _ = watchers.withLock { $0.handlers.removeValue(forKey: id) }
    }
}
