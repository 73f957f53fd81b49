/// Why a child could not be configured, started or written to. Configuration cases surface at
/// start-up; the runtime cases all become one JSON-RPC internal error (-32603) for the client.
public enum ChildError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The configured command line does not parse (e.g. an unterminated quote, or it is empty).
    case invalidCommandLine(String)
    /// An extra environment entry is neither `NAME=value` nor a valid bare `NAME`.
    case invalidEnvironmentEntry(String)
    /// The executable is not on the child's PATH or not executable.
    case executableNotFound(String)
    /// The operating system refused to start the process.
    case spawnFailed(String)
    /// `start` was called twice on the same `ChildProcess`.
    case alreadyStarted
    /// The child is gone (or stopping), so it can take no more input.
    case notRunning
    /// The child runs but has `ChildProcess.maxPendingStdinBytes` of writes waiting: it is not
    /// reading its stdin (e.g. busy in a long call), so this write was refused. The child is
    /// alive; a later write may get through.
    case stdinFull

    public var description: String {
        switch self {
        case .invalidCommandLine(let reason): "invalid child command line: \(reason)"
        case .invalidEnvironmentEntry(let entry): "invalid child environment entry '\(entry)'"
        case .executableNotFound(let name): "child executable '\(name)' not found on the child's PATH"
        case .spawnFailed(let reason): "child could not be started: \(reason)"
        case .alreadyStarted: "child process was already started"
        case .notRunning: "child process is not running"
        case .stdinFull: "child process is not reading its stdin"
        }
    }
}
