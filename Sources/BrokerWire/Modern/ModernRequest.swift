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
    /// `params.name` of a `tools/call`, for `Mcp-Param-*` checks, the tool policy and the audit.
    package let toolName: String?
    /// MRTR retry fields: the sealed state the broker handed out and the client's answers by key.
    package let requestState: String?
    package let inputResponses: [String: Data]
    /// `params.notifications` of a `subscriptions/listen`.
    package let listenFilter: ListenFilter?
    /// The request's params, kept for what only some requests read (`arguments`, the digest).
    private let params: JSONObjectView
    private let digest: @Sendable ([UInt8]) -> [UInt8]

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
    ///
    /// Every member is read with the byte scanner (`JSONObjectView`) and the forwarded request is
    /// spliced from the client's own bytes: this runs for every 2026-07-28 request, and a
    /// Foundation parse and re-encoding of each was most of that era's cost above the legacy one.
    package init(validating message: JSONRPCMessage, headers: Headers, digest: @escaping @Sendable ([UInt8]) -> [UInt8])
        throws(ModernRequestError)
    {
        let rawID = message.rawID
        func fail(_ kind: ModernRequestError.Kind) -> ModernRequestError { ModernRequestError(kind, rawID: rawID) }
        guard message.kind == .request, let rawID, let method = message.method else {
            throw fail(.invalidRequest("only requests and notifications may be sent"))
        }
        guard let paramsRange = message.paramsRange, let params = JSONObjectView(message.bytes, paramsRange),
            let meta = params.object("_meta")
        else { throw fail(.invalidParams("params._meta must be an object")) }
        guard let version = meta.string(ModernProtocol.protocolVersionKey) else {
            throw fail(.invalidParams("_meta[\"\(ModernProtocol.protocolVersionKey)\"] must be a string"))
        }
        guard let headerVersion = headers.protocolVersion else {
            throw fail(.headerMismatch("MCP-Protocol-Version header is required"))
        }
        guard headerVersion == version else {
            throw fail(.headerMismatch("MCP-Protocol-Version '\(headerVersion)' does not match _meta protocolVersion '\(version)'"))
        }
        guard version == ModernProtocol.version else { throw fail(.unsupportedVersion(requested: version)) }
        guard let declared = meta.object(ModernProtocol.clientCapabilitiesKey) else {
            throw fail(.invalidParams("_meta[\"\(ModernProtocol.clientCapabilitiesKey)\"] must be an object"))
        }
        var logThreshold: Int?
        if meta[ModernProtocol.logLevelKey] != nil {
            guard let name = meta.string(ModernProtocol.logLevelKey), let index = ModernProtocol.logLevels.firstIndex(of: name) else {
                throw fail(.invalidParams("unknown log level"))
            }
            logThreshold = index
        }
        guard let headerMethod = headers.method else { throw fail(.headerMismatch("Mcp-Method header is required")) }
        guard headerMethod == method else {
            throw fail(.headerMismatch("Mcp-Method does not match the body method"))
        }
        if let field = ModernProtocol.nameField[method] {
            guard let name = params.string(field) else { throw fail(.invalidParams("params.\(field) must be a string")) }
            guard let header = headers.name else { throw fail(.headerMismatch("Mcp-Name header is required for \(method)")) }
            guard let decoded = Self.decodeHeaderValue(header) else {
                throw fail(.headerMismatch("Mcp-Name contains invalid characters or invalid base64"))
            }
            guard decoded == name else { throw fail(.headerMismatch("Mcp-Name does not match params.\(field)")) }
        }
        guard ModernProtocol.methods.contains(method) else { throw fail(.methodNotFound(method)) }

        var inputResponses: [String: Data] = [:]
        if let responses = params["inputResponses"] {
            guard let object = JSONObjectView(params.bytes, responses) else { throw fail(.invalidParams("inputResponses must be an object")) }
            for member in object.members {
                let key = object.name(of: member)
                guard object.bytes[member.value.lowerBound] == UInt8(ascii: "{") else {
                    throw fail(.invalidParams("inputResponses[\"\(key)\"] must be a result object"))
                }
                inputResponses[key] = Data(object.bytes[member.value])
            }
        }
        if params["requestState"] != nil, params.string("requestState") == nil {
            throw fail(.invalidParams("requestState must be a string"))
        }

        var listenFilter: ListenFilter?
        if method == "subscriptions/listen" {
            guard let filter = params.object("notifications") else { throw fail(.invalidParams("params.notifications must be an object")) }
            func flag(_ name: String) throws(ModernRequestError) -> Bool {
                guard filter[name] != nil else { return false }
                guard let value = filter.bool(name) else { throw fail(.invalidParams("notifications.\(name) must be a boolean")) }
                return value
            }
            var parsed = ListenFilter()
            parsed.toolsListChanged = try flag("toolsListChanged")
            parsed.promptsListChanged = try flag("promptsListChanged")
            parsed.resourcesListChanged = try flag("resourcesListChanged")
            if let uris = filter["resourceSubscriptions"] {
                let elements = filter.elements(at: uris) ?? []
                let list = elements.compactMap(filter.string(at:))
                guard filter.bytes[uris.lowerBound] == UInt8(ascii: "["), list.count == elements.count, list.count <= 100 else {
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
        self.progressToken = meta.raw("progressToken")
        self.capabilities = ModernClientCapabilities(declared)
        self.toolName = method == "tools/call" ? params.string("name") : nil
        self.requestState = params.string("requestState")
        self.inputResponses = inputResponses
        self.params = params
        self.digest = digest
        if method == "server/discover" || method == "subscriptions/listen" {
            forwarded = nil
        } else {
            guard let forwarded = Self.forwardable(rawID: rawID, method: method, params: params, meta: meta) else {
                throw fail(.invalidParams("params cannot be forwarded"))
            }
            self.forwarded = forwarded
        }
    }

    /// `params.arguments` of the request as the client wrote it (for `Mcp-Param-*` checks).
    package var arguments: Data? {
        params["arguments"].map { Data(params.bytes[$0]) }
    }

    /// The digest of the params that identify the call (sorted-key JSON without `_meta`,
    /// `inputResponses` and `requestState`): a retry must repeat the original request. Only an
    /// MRTR park or retry reads it, so only those pay for the canonical encoding.
    package var paramsDigest: [UInt8] {
        digest(Self.digestInput(method: method, params: params))
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
    /// mean nothing to it, and its own `_meta` (e.g. `progressToken`) must survive. The params
    /// are copied member by member as written, minus the MRTR fields and the protocol keys.
    private static func forwardable(rawID: [UInt8], method: String, params: JSONObjectView, meta: JSONObjectView) -> JSONRPCMessage? {
        var forwarded = JSONObjectWriter(reservingCapacity: params.range.count)
        for member in params.members {
            switch params.name(of: member) {
            case "inputResponses", "requestState":
                continue
            case "_meta":
                var kept = JSONObjectWriter()
                for inner in meta.members where !meta.name(of: inner).hasPrefix(ModernProtocol.metaPrefix) {
                    kept.copy(inner, of: meta)
                }
                if !kept.isEmpty { forwarded.add("_meta", raw: kept.finished()) }
            default:
                forwarded.copy(member, of: params)
            }
        }
        return try? JSONRPCMessage(JSONRPCEnvelope.request(rawID: rawID, method: method, params: forwarded.finished()))
    }

    private static func digestInput(method: String, params: JSONObjectView) -> [UInt8] {
        var salient = (try? JSONSerialization.jsonObject(with: Data(params.bytes[params.range]))) as? [String: Any] ?? [:]
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

    /// From the request's `_meta` clientCapabilities object.
    package init(_ declared: JSONObjectView) {
        if let elicitation = declared.object("elicitation") {
            // An empty object means form mode only (schema: ElicitationCapability).
            elicitationForm = elicitation.isEmpty || elicitation["form"] != nil
            elicitationURL = elicitation["url"] != nil
        }
        if let sampling = declared.object("sampling") {
            self.sampling = true
            samplingTools = sampling["tools"] != nil
            samplingContext = sampling["context"] != nil
        }
        roots = declared.object("roots") != nil
    }

    /// The `ClientCapabilities` member a server→client request needs; nil for one every client
    /// answers (`ping`). An unknown method needs a capability named after itself, which no
    /// client declares: it is refused. Both eras decide with this (`MCPEndpoint.sessionless`).
    package static func capability(for method: String) -> String? {
        switch method {
        case "ping": nil
        case "roots/list": "roots"
        case "sampling/createMessage": "sampling"
        default: method.hasPrefix("elicitation/") ? "elicitation" : method
        }
    }

    /// The capabilities a server→client request needs, as the `ClientCapabilities` object that
    /// `-32021` names; nil for a method MRTR cannot carry.
    package static func required(for method: String, params: [String: Any]) -> [String: Any]? {
        guard ["elicitation/create", "sampling/createMessage", "roots/list"].contains(method), let name = capability(for: method) else {
            return nil
        }
        var detail: [String: Any] = [:]
        switch name {
        case "elicitation":
            detail[(params["mode"] as? String) == "url" ? "url" : "form"] = [String: Any]()
        case "sampling":
            if params["tools"] != nil { detail["tools"] = [String: Any]() }
            if let context = params["includeContext"] as? String, context != "none" { detail["context"] = [String: Any]() }
        default:
            break
        }
        return [name: detail]
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
