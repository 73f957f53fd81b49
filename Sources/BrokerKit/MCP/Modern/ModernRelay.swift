import Foundation

/// What the modern client may see of a call: progress only if it sent a token (carrying the
/// token of the request being answered, which after an MRTR retry is the retry's), log messages
/// only at or above its `logLevel`, the translated response. Server→client requests never go
/// out as requests (a 2026-07-28 server sends none on any stream): the endpoint turns them into
/// `input_required` results or answers them to the child. Every other notification is dropped
/// here (change notifications belong on `subscriptions/listen`).
enum ModernRelay {
    enum Disposition {
        case send(BridgeEvent)
        case answerChild(JSONRPCMessage)
        /// A change notification that arrived on a call (the bridge gives the child's
        /// notifications to the only pending call): it belongs to the user's listen streams.
        case broadcast(JSONRPCMessage)
        case drop
    }

    /// A child's server→client request as an MRTR input request.
    struct InputRequest: Sendable {
        let key: String
        /// The bridge's id for the child's request (string, minted by the bridge).
        let brokerRequestID: String
        /// `{"method":…,"params":…}`.
        let request: [UInt8]
        /// `ClientCapabilities` JSON the request needs.
        let required: [UInt8]
    }

    /// Methods whose processing may ask the client for input (spec: patterns/mrtr §Supported Requests).
    static let inputMethods: Set<String> = ["tools/call", "prompts/get", "resources/read"]

    /// Whether a child's server→client request could become this request's `input_required`.
    static func mayTakeInput(_ modern: ModernRequest) -> Bool {
        let declared = modern.capabilities
        return inputMethods.contains(modern.method)
            && (declared.elicitationForm || declared.elicitationURL || declared.sampling || declared.roots)
    }

    static func disposition(of event: BridgeEvent, for modern: ModernRequest, results: ModernResult) -> Disposition {
        switch event {
        case .response(let bytes):
            return .send(.response(results.translate(bytes, method: modern.method, rawID: modern.rawID)))
        case .message(let bytes):
            guard let message = try? JSONRPCMessage(bytes) else { return .drop }
            if message.kind == .request { return .answerChild(message) }
            if let method = message.method, ChildHost.changeNotifications.contains(method) { return .broadcast(message) }
            guard isRelayed(message, for: modern) else { return .drop }
            if message.method == "notifications/progress", let token = modern.progressToken {
                return .send(.message(retokened(message, token) ?? bytes))
            }
            return .send(event)
        }
    }

    /// Nil unless the request is one MRTR allows, the child asks for elicitation, sampling or
    /// roots, and THIS request declared the capability that needs (the spec forbids sending
    /// input requests for undeclared capabilities).
    static func inputRequest(_ childRequest: JSONRPCMessage, for modern: ModernRequest) -> InputRequest? {
        guard inputMethods.contains(modern.method), let method = childRequest.method,
            case .string(let brokerID)? = childRequest.id,
            let object = (try? JSONSerialization.jsonObject(with: Data(childRequest.bytes))) as? [String: Any]
        else { return nil }
        let params = object["params"] as? [String: Any] ?? [:]
        guard let required = ModernClientCapabilities.required(for: method, params: params), modern.capabilities.satisfies(required),
            let request = try? JSONSerialization.data(withJSONObject: ["method": method, "params": params], options: [.withoutEscapingSlashes]),
            let requiredJSON = try? JSONSerialization.data(withJSONObject: required)
        else { return nil }
        return InputRequest(key: "input-1", brokerRequestID: brokerID, request: Array(request), required: Array(requiredJSON))
    }

    /// The client's own progress token spliced over the child's (the bridge routed the
    /// notification here by the child's token, so it has one).
    private static func retokened(_ message: JSONRPCMessage, _ token: [UInt8]) -> [UInt8]? {
        message.notifiedProgressToken.map { message.replacing($0.range, with: token) }
    }

    private static func isRelayed(_ notification: JSONRPCMessage, for modern: ModernRequest) -> Bool {
        switch notification.method {
        case "notifications/progress": return modern.wantsProgress
        case "notifications/message":
            guard let threshold = modern.logThreshold else { return false }
            return logLevelIndex(of: notification).map { $0 >= threshold } ?? true
        default: return false
        }
    }

    private static func logLevelIndex(of notification: JSONRPCMessage) -> Int? {
        notification.paramsString("level").flatMap(ModernProtocol.logLevels.firstIndex(of:))
    }
}
