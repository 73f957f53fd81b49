import Foundation

/// A validated 2026-07-28 request, reduced to what answering it needs (all `Sendable`, so it can
/// travel into the SSE writer).
package struct ModernRequest: Sendable {
    package let rawID: [UInt8]
    package let method: String
    /// The request as the legacy child gets it: protocol `_meta` keys removed. Nil for
    /// `server/discover` and `subscriptions/listen`, which the broker answers itself.
    package let forwarded: JSONRPCMessage?
    /// Progress is only relayed when the client asked for it with a token.
    package let wantsProgress: Bool
    /// Index into `ModernProtocol.logLevels`; nil means `notifications/message` must be dropped.
    package let logThreshold: Int?
    /// This request's `_meta.progressToken` as JSON: a retry's progress carries the retry's token.
    package let progressToken: [UInt8]?
    /// What the client declared for THIS request (the spec forbids inferring it from others).
    package let capabilities: ModernClientCapabilities
    /// `params.name` of a `tools/call`, and its `arguments` as JSON, for `Mcp-Param-*` checks.
    package let toolName: String?
    package let arguments: Data?
    /// MRTR retry fields: the sealed state the broker handed out and the client's answers by key.
    package let requestState: String?
    package let inputResponses: [String: Data]
    /// `params.notifications` of a `subscriptions/listen`.
    package let listenFilter: ListenFilter?
    /// SHA-256 of the params that identify the call (sorted-key JSON without `_meta`,
    /// `inputResponses` and `requestState`): a retry must repeat the original request.
    package let paramsDigest: [UInt8]

    /// The request headers validation compares with the body, as the HTTP layer reads them.
    package struct Headers: Sendable {
        package var protocolVersion: String?
        package var method: String?
        package var name: String?

        package init(protocolVersion: String?, method: String?, name: String?) {
            self.protocolVersion = protocolVersion
            self.method = method
            self.name = name
        }
    }

    /// Applies the transport's server-validation rules in the order a client can act on:
    /// headers against the body (`-32020`), then the version (`-32022`), then `_meta` (`-32602`),
    /// then the method (`404`). `digest` hashes the identifying params into `paramsDigest`
    /// (SHA-256 in the broker; passed in so this module needs no crypto library).
    package init(validating message: JSONRPCMessage, headers: Headers, digest: ([UInt8]) -> [UInt8]) throws(ModernRequestError) {
        let rawID = message.rawID
        func fail(_ kind: ModernRequestError.Kind) -> ModernRequestError { ModernRequestError(kind, rawID: rawID) }
        guard message.kind == .request, let rawID, let method = message.method else {
            throw fail(.invalidRequest("only requests and notifications may be sent"))
        }
        guard let object = (try? JSONSerialization.jsonObject(with: Data(message.bytes))) as? [String: Any],
            let params = object["params"] as? [String: Any], let meta = params["_meta"] as? [String: Any]
        else { throw fail(.invalidParams("params._meta must be an object")) }
        guard let version = meta[ModernProtocol.protocolVersionKey] as? String else {
            throw fail(.invalidParams("_meta[\"\(ModernProtocol.protocolVersionKey)\"] must be a string"))
        }
        guard let headerVersion = headers.protocolVersion else {
            throw fail(.headerMismatch("MCP-Protocol-Version header is required"))
        }
        guard headerVersion == version else {
            throw fail(.headerMismatch("MCP-Protocol-Version '\(headerVersion)' does not match _meta protocolVersion '\(version)'"))
        }
        guard version == ModernProtocol.version else { throw fail(.unsupportedVersion(requested: version)) }
        guard meta[ModernProtocol.clientCapabilitiesKey] is [String: Any] else {
            throw fail(.invalidParams("_meta[\"\(ModernProtocol.clientCapabilitiesKey)\"] must be an object"))
        }
        var logThreshold: Int?
        if let level = meta[ModernProtocol.logLevelKey] {
            guard let name = level as? String, let index = ModernProtocol.logLevels.firstIndex(of: name) else {
                throw fail(.invalidParams("unknown log level"))
            }
            logThreshold = index
        }
        guard let headerMethod = headers.method else { throw fail(.headerMismatch("Mcp-Method header is required")) }
        guard headerMethod == method else {
            throw fail(.headerMismatch("Mcp-Method does not match the body method"))
        }
        if let field = ModernProtocol.nameField[method] {
            guard let name = params[field] as? String else { throw fail(.invalidParams("params.\(field) must be a string")) }
            guard let header = headers.name else { throw fail(.headerMismatch("Mcp-Name header is required for \(method)")) }
            guard let decoded = Self.decodeHeaderValue(header) else {
                throw fail(.headerMismatch("Mcp-Name contains invalid characters or invalid base64"))
            }
            guard decoded == name else { throw fail(.headerMismatch("Mcp-Name does not match params.\(field)")) }
        }
        guard ModernProtocol.methods.contains(method) else { throw fail(.methodNotFound(method)) }

        var inputResponses: [String: Data] = [:]
        if let responses = params["inputResponses"] {
            guard let object = responses as? [String: Any] else { throw fail(.invalidParams("inputResponses must be an object")) }
            for (key, value) in object {
                guard value is [String: Any], let encoded = try? JSONSerialization.data(withJSONObject: value) else {
                    throw fail(.invalidParams("inputResponses[\"\(key)\"] must be a result object"))
                }
                inputResponses[key] = encoded
            }
        }
        if let state = params["requestState"], !(state is String) { throw fail(.invalidParams("requestState must be a string")) }

        var listenFilter: ListenFilter?
        if method == "subscriptions/listen" {
            guard let filter = params["notifications"] as? [String: Any] else {
                throw fail(.invalidParams("params.notifications must be an object"))
            }
            func flag(_ name: String) throws(ModernRequestError) -> Bool {
                guard let value = filter[name] else { return false }
                // JSON booleans parse as NSNumbers of ObjC type `c`; numbers must not pass as flags.
                guard let number = value as? NSNumber, String(cString: number.objCType) == "c" else {
                    throw fail(.invalidParams("notifications.\(name) must be a boolean"))
                }
                return number.boolValue
            }
            var parsed = ListenFilter()
            parsed.toolsListChanged = try flag("toolsListChanged")
            parsed.promptsListChanged = try flag("promptsListChanged")
            parsed.resourcesListChanged = try flag("resourcesListChanged")
            if let uris = filter["resourceSubscriptions"] {
                guard let list = uris as? [String], list.count <= 100 else {
                    throw fail(.invalidParams("notifications.resourceSubscriptions must be at most 100 URI strings"))
                }
                parsed.resourceSubscriptions = list
            }
            listenFilter = parsed
        }

        self.listenFilter = listenFilter
        self.rawID = rawID
        self.method = method
        self.wantsProgress = meta["progressToken"] != nil
        self.logThreshold = logThreshold
        self.progressToken = meta["progressToken"].flatMap { try? JSONSerialization.data(withJSONObject: $0, options: .fragmentsAllowed) }
            .map(Array.init)
        self.capabilities = ModernClientCapabilities(meta[ModernProtocol.clientCapabilitiesKey] as? [String: Any] ?? [:])
        self.toolName = method == "tools/call" ? params["name"] as? String : nil
        self.arguments = params["arguments"].flatMap { try? JSONSerialization.data(withJSONObject: $0, options: .fragmentsAllowed) }
        self.requestState = params["requestState"] as? String
        self.inputResponses = inputResponses
        self.paramsDigest = digest(Self.digestInput(method: method, params: params))
        if method == "server/discover" || method == "subscriptions/listen" {
            forwarded = nil
        } else {
            guard let forwarded = Self.forwardable(rawID: rawID, method: method, params: params, meta: meta) else {
                throw fail(.invalidParams("params cannot be forwarded"))
            }
            self.forwarded = forwarded
        }
    }

    /// Header-safe values are visible ASCII (space allowed inside); anything else must arrive as
    /// `=?base64?…?=` (exact lowercase markers). Nil when the value is neither.
    package static func decodeHeaderValue(_ value: String) -> String? {
        let prefix = "=?base64?", suffix = "?="
        if value.hasPrefix(prefix), value.hasSuffix(suffix), value.count >= prefix.count + suffix.count {
            let encoded = value.dropFirst(prefix.count).dropLast(suffix.count)
            guard let data = Data(base64Encoded: String(encoded)) else { return nil }
            return String(data: data, encoding: .utf8)
        }
        guard value.utf8.allSatisfy({ (0x20...0x7E).contains($0) }), value.first != " ", value.last != " " else { return nil }
        return value
    }

    /// The legacy child negotiated its version once at `initialize`; per-request protocol keys
    /// mean nothing to it, and its own `_meta` (e.g. `progressToken`) must survive.
    private static func forwardable(rawID: [UInt8], method: String, params: [String: Any], meta: [String: Any]) -> JSONRPCMessage? {
        var params = params
        params["inputResponses"] = nil
        params["requestState"] = nil
        let kept = meta.filter { !$0.key.hasPrefix(ModernProtocol.metaPrefix) }
        params["_meta"] = kept.isEmpty ? nil : kept
        guard let encoded = try? JSONSerialization.data(withJSONObject: params, options: [.withoutEscapingSlashes]) else { return nil }
        return try? JSONRPCMessage(JSONRPCEnvelope.request(rawID: rawID, method: method, params: Array(encoded)))
    }

    private static func digestInput(method: String, params: [String: Any]) -> [UInt8] {
        var salient = params
        for key in ["_meta", "inputResponses", "requestState"] { salient[key] = nil }
        let encoded = (try? JSONSerialization.data(withJSONObject: salient, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return Array(method.utf8) + [0] + Array(encoded)
    }
}

/// The client capabilities of one modern request, reduced to what decides whether a child's
/// server→client request may be passed on as an MRTR input request.
package struct ModernClientCapabilities: Sendable, Equatable {
    package var elicitationForm = false
    package var elicitationURL = false
    package var sampling = false
    package var samplingTools = false
    package var samplingContext = false
    package var roots = false

    package init(_ declared: [String: Any]) {
        if let elicitation = declared["elicitation"] as? [String: Any] {
            // An empty object means form mode only (schema: ElicitationCapability).
            elicitationForm = elicitation.isEmpty || elicitation["form"] != nil
            elicitationURL = elicitation["url"] != nil
        }
        if let sampling = declared["sampling"] as? [String: Any] {
            self.sampling = true
            samplingTools = sampling["tools"] != nil
            samplingContext = sampling["context"] != nil
        }
        roots = declared["roots"] is [String: Any]
    }

    /// The capabilities a server→client request needs, as the `ClientCapabilities` object that
    /// `-32021` names; nil for a method MRTR cannot carry.
    package static func required(for method: String, params: [String: Any]) -> [String: Any]? {
        switch method {
        case "elicitation/create":
            return ["elicitation": [(params["mode"] as? String) == "url" ? "url" : "form": [String: Any]()]]
        case "sampling/createMessage":
            var sampling: [String: Any] = [:]
            if params["tools"] != nil { sampling["tools"] = [String: Any]() }
            if let context = params["includeContext"] as? String, context != "none" { sampling["context"] = [String: Any]() }
            return ["sampling": sampling]
        case "roots/list":
            return ["roots": [String: Any]()]
        default:
            return nil
        }
    }

    /// Whether this request declared everything `required` names.
    package func satisfies(_ required: [String: Any]) -> Bool {
        if let elicitation = required["elicitation"] as? [String: Any] {
            if elicitation["url"] != nil, !elicitationURL { return false }
            if elicitation["form"] != nil, !elicitationForm { return false }
        }
        if let sampling = required["sampling"] as? [String: Any] {
            if !self.sampling { return false }
            if sampling["tools"] != nil, !samplingTools { return false }
            if sampling["context"] != nil, !samplingContext { return false }
        }
        if required["roots"] != nil, !roots { return false }
        return true
    }
}
