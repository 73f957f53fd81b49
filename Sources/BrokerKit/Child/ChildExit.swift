/// How a child ended. `reason` says why (what the broker did or saw); `status` is what the
/// kernel reported, kept for logs.
public struct ChildExit: Sendable, Equatable, CustomStringConvertible {
    public enum Reason: Sendable, Equatable {
        case exited(Int32)
        case signaled(Int32)
        case stoppedByBroker
        case lineTooLong
        case spawnFailed
        /// Its stdin no longer takes writes: it is exiting, or closed its input.
        case inputClosed

        /// Metric label value (`fjmcp_child_exits_total{reason=…}`).
        public var label: String {
            switch self {
            case .exited: "exited"
            case .signaled: "signaled"
            case .stoppedByBroker: "stopped_by_broker"
            case .lineTooLong: "stdout_line_too_long"
            case .spawnFailed: "spawn_failed"
            case .inputClosed: "input_closed"
            }
        }
    }

    public enum Status: Sendable, Equatable {
        case exited(Int32)
        case signaled(Int32)
    }

    public let reason: Reason
    /// Nil when the process never ran.
    public let status: Status?

    public init(reason: Reason, status: Status?) {
        self.reason = reason
        self.status = status
    }

    public var description: String {
        switch reason {
        case .exited(let code): "exited with code \(code)"
        case .signaled(let signal): "killed by signal \(signal)"
        case .stoppedByBroker: "stopped by the broker"
        case .lineTooLong: "killed: stdout line too long"
        case .spawnFailed: "failed to start"
        case .inputClosed: "stopped taking input"
        }
    }
}
