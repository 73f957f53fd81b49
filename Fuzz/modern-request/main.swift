// libFuzzer target: 2026-07-28 request validation (ModernRequest, ModernRequestError,
// Mcp-Name header decoding). The input is a body, or `version ␁ method ␁ name ␁ body` to choose
// the three headers (empty = absent); with a body alone the headers are derived from it, so
// mutations reach the checks after the header comparison. Invariants: a validated request has
// the body's id and method, a served method, a deterministic params digest and a forwarded
// message that the strict scanner accepts, with the same id and method and no protocol `_meta`
// keys, `inputResponses` or `requestState`; a refusal is one of the spec's codes and its body
// is a JSON-RPC error response; base64 header values decode to what was encoded.
import Foundation

@testable import BrokerWire

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzModernRequest(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let parts = bytes.split(separator: 0x01, maxSplits: 3, omittingEmptySubsequences: false)
    let body = parts.count == 4 ? Array(parts[3]) : bytes
    checkHeaderValue(String(decoding: bytes, as: UTF8.self))
    // The endpoint validates only what the strict scanner accepted.
    guard let message = try? JSONRPCMessage(body, memberNames: .strict) else { return 0 }
    let headers = parts.count == 4
        ? ModernRequest.Headers(protocolVersion: header(parts[0]), method: header(parts[1]), name: header(parts[2]))
        : derivedHeaders(message)
    do {
        let request = try ModernRequest(validating: message, headers: headers, digest: { $0 })
        check(request, of: message)
        let again = try ModernRequest(validating: message, headers: headers, digest: { $0 })
        require(again.paramsDigest == request.paramsDigest, "params digest is not deterministic")
    } catch {
        check(error, of: message)
    }
    return 0
}

private func header(_ bytes: ArraySlice<UInt8>) -> String? {
    bytes.isEmpty ? nil : String(decoding: bytes, as: UTF8.self)
}

/// What a conforming client would send with this body.
private func derivedHeaders(_ message: JSONRPCMessage) -> ModernRequest.Headers {
    let object = (try? JSONSerialization.jsonObject(with: Data(message.bytes))) as? [String: Any]
    let params = object?["params"] as? [String: Any]
    let name = message.method.flatMap { ModernProtocol.nameField[$0] }.flatMap { params?[$0] as? String }
    return ModernRequest.Headers(protocolVersion: ModernProtocol.version, method: message.method, name: name.map(encodeHeader))
}

private func encodeHeader(_ value: String) -> String {
    let plain = value.utf8.allSatisfy { (0x20...0x7E).contains($0) } && value.first != " " && value.last != " "
    return plain && !value.hasPrefix("=?base64?") ? value : "=?base64?" + Data(value.utf8).base64EncodedString() + "?="
}

private func check(_ request: ModernRequest, of message: JSONRPCMessage) {
    require(request.rawID == message.rawID && request.method == message.method, "id or method changed")
    require(ModernProtocol.methods.contains(request.method), "served an unknown method \(request.method)")
    require((request.listenFilter != nil) == (request.method == "subscriptions/listen"), "listen filter on the wrong method")
    require((request.listenFilter?.resourceSubscriptions.count ?? 0) <= 100, "too many resource subscriptions")
    require(request.paramsDigest.starts(with: Array(request.method.utf8) + [0]), "digest input without its method")
    guard let forwarded = request.forwarded else {
        require(request.method == "server/discover" || request.method == "subscriptions/listen", "nothing to forward")
        return
    }
    guard let strict = try? JSONRPCMessage(forwarded.bytes, memberNames: .strict) else {
        fail("the forwarded message is refused by the strict scanner")
    }
    require(strict.kind == .request && strict.rawID == message.rawID && strict.method == message.method, "forwarded a different request")
    let object = (try? JSONSerialization.jsonObject(with: Data(forwarded.bytes))) as? [String: Any]
    let params = object?["params"] as? [String: Any] ?? [:]
    require(params["inputResponses"] == nil && params["requestState"] == nil, "forwarded retry fields")
    let meta = params["_meta"] as? [String: Any] ?? [:]
    require(!meta.keys.contains { $0.hasPrefix(ModernProtocol.metaPrefix) }, "forwarded protocol _meta keys")
}

private func check(_ error: ModernRequestError, of message: JSONRPCMessage) {
    require([-32020, -32021, -32022, -32600, -32601, -32602].contains(error.code), "unexpected code \(error.code)")
    guard let response = try? JSONRPCMessage(error.body, memberNames: .strict), response.kind == .errorResponse else {
        fail("refusal body is not a JSON-RPC error response")
    }
    if let rawID = message.rawID, message.kind == .request { require(response.rawID == rawID, "refusal under another id") }
}

private func checkHeaderValue(_ value: String) {
    if let decoded = ModernRequest.decodeHeaderValue(value), !value.hasPrefix("=?base64?") {
        require(decoded == value, "a plain header value changed")
    }
    let encoded = "=?base64?" + Data(value.utf8).base64EncodedString() + "?="
    require(ModernRequest.decodeHeaderValue(encoded) == value, "a base64 header value did not decode to itself")
}
