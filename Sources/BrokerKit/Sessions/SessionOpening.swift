/// What `ChildHost.open` produced: a session, or the child's own error answer to
/// `initialize` (passed to the client unchanged; no session is created for it).
public enum SessionOpening: Sendable {
    case opened(sessionID: String, initializeResponse: [UInt8])
    case rejected(initializeResponse: [UInt8])
}
