import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

// The HTTP side of 2026-07-28 request handling. The validation itself (ModernRequest,
// ModernRequestError, ModernProtocol) lives in BrokerWire, free of HTTP and crypto libraries,
// so the libFuzzer target Fuzz/modern-request builds it directly.

extension HTTPField.Name {
    static let mcpMethod = Self("Mcp-Method")!
    static let mcpName = Self("Mcp-Name")!
}

/// Which protocol era a POST to `/mcp` belongs to (dual-era selection, spec 2026-07-28
/// versioning §Backward Compatibility).
enum MCPEra: Equatable {
    case legacy
    /// Legacy-shaped (no 2026-07-28 `_meta` or header) but without a session: served on the
    /// user's child as a 2025-11-25 server (`MCPEndpoint.sessionless`), a compatibility choice.
    case sessionless
    case modern
    /// `server/discover`, or the 2026-07-28 header, without the `_meta` that era requires: the
    /// broker answers like a modern server so dual-era clients can tell what it is.
    case unclassified

    static func of(_ message: JSONRPCMessage, headers: HTTPFields) -> MCPEra {
        if message.kind == .batch || (message.kind == .request && message.method == "initialize") { return .legacy }
        if message.hasModernMeta { return .modern }
        if headers.contains(.mcpSessionID) { return .legacy }
        if message.method == "server/discover" || headers.value(.mcpProtocolVersion) == ModernProtocol.version { return .unclassified }
        return .sessionless
    }
}

extension JSONRPCMessage {
    /// `params._meta["io.modelcontextprotocol/protocolVersion"]` is present; found with the
    /// byte scanner so legacy traffic never pays for a JSON parse.
    var hasModernMeta: Bool {
        guard let paramsRange else { return false }
        return bytes.withUnsafeBufferPointer { buffer in
            guard let meta = Self.member("_meta", inObjectAt: paramsRange, of: buffer) else { return false }
            return Self.member(ModernProtocol.protocolVersionKey, inObjectAt: meta, of: buffer) != nil
        }
    }
}

extension ModernRequest {
    /// Validates `message` against the request's `MCP-Protocol-Version`, `Mcp-Method` and
    /// `Mcp-Name` headers; the identifying params are digested with SHA-256.
    init(validating message: JSONRPCMessage, headers: HTTPFields) throws(ModernRequestError) {
        try self.init(
            validating: message,
            headers: Headers(protocolVersion: headers.value(.mcpProtocolVersion), method: headers.value(.mcpMethod), name: headers.value(.mcpName)),
            digest: { Array(SHA256.hash(data: $0)) })
    }

    /// Checks the `Mcp-Param-*` headers of a `tools/call` against the tool's `x-mcp-header`
    /// arguments (needs the child's catalog, so it runs once the child is known).
    func validateParamHeaders(_ headers: HTTPFields, catalog: ChildTools) throws(ModernRequestError) {
        guard let toolName else { return }
        let declared = catalog.headers(forTool: toolName)
        guard !declared.isEmpty else { return }
        let arguments = self.arguments.flatMap { try? JSONSerialization.jsonObject(with: $0, options: .fragmentsAllowed) }
        do {
            try ModernParamValidation.validate(arguments: arguments, headers: headers, declared: declared)
        } catch {
            throw ModernRequestError(error, rawID: rawID)
        }
    }
}

extension ModernRequestError: HTTPResponseError {
    package var status: HTTPResponse.Status { isNotFound ? .notFound : .badRequest }

    package func response(from request: Request, context: some RequestContext) throws -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}
