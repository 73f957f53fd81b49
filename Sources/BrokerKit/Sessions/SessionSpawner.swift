import Foundation
import Logging

/// Makes a session's child: fetches the user's Forgejo token (only through the
/// `UpstreamTokenProvider`), spawns the configured command and performs the `initialize`
/// handshake. A child swap (token rotation) is `spawn` plus `initialize` with the session's
/// stored request, then replaying `notifications/initialized`.
struct SessionSpawner: Sendable {
    let launcher: ChildLauncher
    let tokens: any UpstreamTokenProvider
    /// Only this first call is bounded: tool calls may legitimately run for a long time.
    let initializeTimeout: Duration
    let logger: Logger

    /// Starts a child with the user's current Forgejo token; the credential says which.
    func spawn(sessionID: String, userID: Int64) async throws(SessionError) -> (bridge: ChildBridge, credential: UpstreamCredential) {
        let credential: UpstreamCredential
        do {
            credential = try await tokens.accessToken(userID: userID)
        } catch {
            switch error {
            case .loginRequired(let reason): throw .loginRequired(reason: reason)
            case .unavailable(let reason): throw .upstreamUnavailable(reason: reason)
            }
        }
        let spec: ChildSpec
        do {
            spec = try launcher.spec(token: credential.token)
        } catch {
            throw .childStartFailed("\(error)")
        }
        let bridge = ChildBridge(child: ChildProcess(spec: spec, sessionID: sessionID, logger: logger), logger: logger)
        do {
            try await bridge.start()
        } catch {
            throw .childStartFailed("\(error)")
        }
        return (bridge, credential)
    }

    /// A replacement child for `session` with the user's current token: it gets the session's
    /// own `initialize` (the answer is dropped, the client already has one) and
    /// `notifications/initialized`, so it is in the state the client believes the session is in.
    func replacement(for session: Session) async throws(SessionError) -> (bridge: ChildBridge, credential: UpstreamCredential) {
        guard let request = try? JSONRPCMessage(session.initializeRequest) else {
            throw .childStartFailed("the stored initialize is unreadable")
        }
        let (bridge, credential) = try await spawn(sessionID: session.id, userID: session.owner.userID)
        let answer = try await initialize(bridge, with: request)
        guard (try? JSONRPCMessage(answer))?.kind == .response else {
            await bridge.stop()
            throw .childStartFailed("the new child rejected the replayed initialize")
        }
        if let initialized = await session.initializedNotification, let notification = try? JSONRPCMessage(initialized) {
            try? await bridge.forwardNotification(notification)
        }
        return (bridge, credential)
    }

    /// Forwards `initialize` and waits (bounded) for the answer. A child that dies first, e.g.
    /// because Forgejo rejected its token, is reported with its exit instead of a hang.
    func initialize(_ bridge: ChildBridge, with request: JSONRPCMessage) async throws(SessionError) -> [UInt8] {
        let call: BridgeCall
        do {
            call = try await bridge.send(request)
        } catch {
            await bridge.stop()
            throw .childStartFailed("initialize is not a request")
        }
        let answer = await call.response(within: initializeTimeout)
        // A child that died before answering shows up as the bridge's own error response.
        let answered = answer.flatMap { try? JSONRPCMessage($0) }?.kind == .response
        if !answered, let exit = await bridge.child.exit {
            throw .childStartFailed("the process \(exit) before answering initialize")
        }
        guard let answer else {
            await bridge.stop()
            throw .childStartFailed("no answer to initialize within \(initializeTimeout)")
        }
        return answer
    }

    static func protocolVersion(of reply: JSONRPCMessage) -> String? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(reply.bytes)) as? [String: Any],
            let result = object["result"] as? [String: Any]
        else { return nil }
        return result["protocolVersion"] as? String
    }
}
