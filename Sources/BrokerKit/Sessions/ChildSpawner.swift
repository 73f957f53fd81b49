import Foundation
import Logging

/// The `initialize` and `notifications/initialized` that made a child what it is: the client's
/// own for a legacy session, the broker's for a user child, and the session state the client set
/// since (log level, resource subscriptions). Replayed on every replacement child.
struct ChildHandshake: Sendable {
    let initialize: [UInt8]
    var initialized: [UInt8]?
    var state = SessionState()

    /// The handshake a legacy client would do, with the broker as the client. It declares
    /// elicitation, sampling and roots because it can pass them on to a stateless client that
    /// declares them per request (MRTR); for one that does not, the child's request is refused,
    /// as a legacy client without the capability would.
    static let broker = ChildHandshake(
        initialize: JSONRPCEnvelope.request(
            rawID: Array("0".utf8), method: "initialize",
            params: Array(#"{"protocolVersion":"2025-11-25","capabilities":{"elicitation":{},"sampling":{},"roots":{}},"clientInfo":{"name":"fjmcp-broker","version":"1"}}"#.utf8)),
        initialized: JSONRPCEnvelope.notification(method: "notifications/initialized", params: nil))
}

/// Session state a client sets with requests, which a new child must be given again: the log
/// level (`logging/setLevel`) and resource subscriptions (`resources/subscribe`).
struct SessionState: Sendable, Equatable {
    var logLevel: String?
    var subscriptions: [String] = []

    /// Notes what `request` changes; false when it changes nothing (or is not such a request).
    mutating func note(_ request: JSONRPCMessage) -> Bool {
        guard let method = request.method, Self.methods.contains(method),
            let params = ((try? JSONSerialization.jsonObject(with: Data(request.bytes))) as? [String: Any])?["params"] as? [String: Any]
        else { return false }
        let before = self
        switch method {
        case "logging/setLevel": logLevel = params["level"] as? String
        case "resources/subscribe":
            if let uri = params["uri"] as? String, !subscriptions.contains(uri) { subscriptions.append(uri) }
        default:
            if let uri = params["uri"] as? String { subscriptions.removeAll { $0 == uri } }
        }
        return self != before
    }

    static let methods: Set<String> = ["logging/setLevel", "resources/subscribe", "resources/unsubscribe"]

    /// The requests that put a new child into this state.
    func replay() -> [JSONRPCMessage] {
        var requests: [[UInt8]] = []
        if let logLevel {
            requests.append(JSONRPCEnvelope.request(
                rawID: JSONRPCID.encodeString("fjmcp-replay-level"), method: "logging/setLevel",
                params: Array(#"{"level":"#.utf8) + JSONRPCID.encodeString(logLevel) + Array("}".utf8)))
        }
        for (index, uri) in subscriptions.enumerated() {
            requests.append(JSONRPCEnvelope.request(
                rawID: JSONRPCID.encodeString("fjmcp-replay-\(index)"), method: "resources/subscribe",
                params: Array(#"{"uri":"#.utf8) + JSONRPCID.encodeString(uri) + Array("}".utf8)))
        }
        return requests.compactMap { try? JSONRPCMessage($0) }
    }
}

/// What a child said about itself in its `initialize` result, kept as JSON fragments (Sendable)
/// for `server/discover`, the `serverInfo` every modern result carries, and the version whose
/// HTTP rules a legacy session follows.
public struct ChildServerInfo: Sendable {
    /// The child's `capabilities` object, JSON-encoded.
    let capabilities: Data
    /// The child's `serverInfo` object, JSON-encoded; nil if it sent none.
    let serverInfo: Data?
    let instructions: String?
    let protocolVersion: String
    /// The whole `result`, JSON-encoded: what a new session of this version is answered with.
    let result: [UInt8]

    /// Nil unless `response` is an `initialize` result with a `capabilities` object.
    init?(initializeResponse response: [UInt8]) {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(response))) as? [String: Any],
            let result = object["result"] as? [String: Any], let capabilities = result["capabilities"] as? [String: Any],
            let encoded = try? JSONSerialization.data(withJSONObject: capabilities, options: .sortedKeys)
        else { return nil }
        // Sorted keys: a dictionary's order differs from one process to the next, and these bytes
        // are spliced into every 2026-07-28 answer, which clients may cache and compare.
        self.capabilities = encoded
        self.serverInfo = (result["serverInfo"] as? [String: Any]).flatMap { try? JSONSerialization.data(withJSONObject: $0, options: .sortedKeys) }
        self.instructions = result["instructions"] as? String
        self.protocolVersion = result["protocolVersion"] as? String ?? "2025-03-26"
        guard let encoded = try? JSONSerialization.data(withJSONObject: result, options: [.withoutEscapingSlashes, .sortedKeys])
        else { return nil }
        self.result = Array(encoded)
    }

    /// Whether the `initialize` result announced `feature` (e.g. "tools", "resources").
    func offers(_ feature: String) -> Bool {
        capabilitiesObject[feature] != nil
    }

    var capabilitiesObject: [String: Any] {
        ((try? JSONSerialization.jsonObject(with: capabilities)) as? [String: Any]) ?? [:]
    }
}

/// Makes children: fetches the user's Forgejo token (only through the `UpstreamTokenProvider`),
/// spawns the configured command and performs the `initialize` handshake. A replacement child
/// (token rotation) gets the same handshake replayed.
struct ChildSpawner: Sendable {
    let launcher: ChildLauncher
    let tokens: any UpstreamTokenProvider
    /// Only this first call is bounded: tool calls may legitimately run for a long time.
    let initializeTimeout: Duration
    /// Bytes a child's messages for no single call may hold while their reader is behind
    /// (`FJMCP_MAX_BUFFERED_EVENT_BYTES`, as for a call's own messages).
    let maxBufferedEventBytes: Int
    let logger: Logger
    /// Told when a call on a child ends in an error (see `ChildHost.failureObserver`).
    var doubts: (any UpstreamDoubts)?

    /// A started child that answered `initialize`, or the child's own error answer to it.
    enum Outcome: Sendable {
        case started(ChildBridge, UpstreamCredential, server: ChildServerInfo, initializeResponse: [UInt8])
        case rejected(initializeResponse: [UInt8])
    }

    /// Spawns a child with the user's current token and performs `handshake`; a child that
    /// answers `initialize` with an error is stopped and its answer returned.
    func start(label: String, userID: Int64, handshake: ChildHandshake) async throws(SessionError) -> Outcome {
        guard let request = try? JSONRPCMessage(handshake.initialize) else {
            throw .childStartFailed("the initialize to replay is unreadable")
        }
        let (bridge, credential) = try await spawn(label: label, userID: userID)
        let response = try await initialize(bridge, with: request)
        guard let server = ChildServerInfo(initializeResponse: response) else {
            await bridge.stop()
            return .rejected(initializeResponse: response)
        }
        if let initialized = handshake.initialized, let notification = try? JSONRPCMessage(initialized) {
            try? await bridge.forwardNotification(notification)
        }
        // The answers were the client's long ago; only the child's state matters now.
        for request in handshake.state.replay() {
            guard let call = try? await bridge.send(request) else { continue }
            if await call.response(within: initializeTimeout) == nil { await bridge.cancel(call.ticket, reason: "no answer in time") }
        }
        return .started(bridge, credential, server: server, initializeResponse: response)
    }

    /// Starts a child with the user's current Forgejo token; the credential says which.
    private func spawn(label: String, userID: Int64) async throws(SessionError) -> (bridge: ChildBridge, credential: UpstreamCredential) {
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
        let bridge = ChildBridge(child: ChildProcess(spec: spec, sessionID: label, logger: logger), logger: logger,
                                 serverLimit: maxBufferedEventBytes)
        if let doubts { bridge.observeAnswers(ChildHost.failureObserver(userID: userID, doubts: doubts)) }
        do {
            try await bridge.start()
        } catch {
            throw .childStartFailed("\(error)")
        }
        return (bridge, credential)
    }

    /// Forwards `initialize` and waits (bounded) for the answer. A child that dies first, e.g.
    /// because Forgejo rejected its token, is reported with its exit instead of a hang.
    private func initialize(_ bridge: ChildBridge, with request: JSONRPCMessage) async throws(SessionError) -> [UInt8] {
        let call: BridgeCall
        do {
            call = try await bridge.send(request)
        } catch {
            let exit = await bridge.stop()
            throw .childStartFailed(error == .childGone ? "the process \(exit) before initialize" : "initialize is not a request")
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
}
