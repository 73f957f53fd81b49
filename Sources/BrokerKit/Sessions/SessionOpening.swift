/// What `SessionRegistry.open` produced: a session, or the child's own error answer to
/// `initialize` (passed to the client unchanged; no session is created for it).
public enum SessionOpening: Sendable {
    case opened(Session, initializeResponse: [UInt8])
    case rejected(initializeResponse: [UInt8])
}
