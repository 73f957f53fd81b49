// libFuzzer target: the JSON-RPC scanner and message classification (strict and lenient member
// names), id splicing and the envelope writer. Invariants, each a trap when broken:
// - strict acceptance implies lenient acceptance with the same kind, id and method, and a
//   message strict refuses but lenient accepts is refused as -32600 (ambiguous names), never -32700;
// - every error maps to -32700 or -32600 and its response parses as an error response;
// - replacing the id and putting the original back gives the input bytes exactly;
// - any string survives the envelope writer and the scanner unchanged (as method and as id);
// - what the scanner accepts (UTF-8, shallow) Foundation reads too.
import Foundation

@testable import BrokerWire

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSONRPC(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let lenient = parse(bytes, .lenient)
    let strict = parse(bytes, .strict)
    switch (strict, lenient) {
    case (.success(let s), .success(let l)):
        require(s.kind == l.kind && s.id == l.id && s.method == l.method, "strict and lenient disagree")
    case (.success, .failure(let error)):
        fail("strict accepted what lenient refused: \(error)")
    case (.failure(let error), .success):
        require(error.code == -32600, "strict-only refusal must be -32600, got \(error)")
    case (.failure, .failure):
        break
    }
    switch lenient {
    case .success(let message): check(message, depth: 0)
    case .failure(let error): check(error)
    }
    checkEnvelopeRoundTrip(String(decoding: bytes, as: UTF8.self))
    checkAgainstFoundation(bytes, lenient)
    return 0
}

private func parse(_ bytes: [UInt8], _ names: JSONRPCMessage.MemberNames) -> Result<JSONRPCMessage, JSONRPCParseError> {
    Result { () throws(JSONRPCParseError) in try JSONRPCMessage(bytes, memberNames: names) }
}

private func check(_ message: JSONRPCMessage, depth: Int) {
    if message.kind == .batch {
        let elements = message.batchElements()
        require(!elements.isEmpty && elements.count <= message.bytes.count, "batch element count out of bounds")
        for element in elements {
            switch element {
            case .success(let inner):
                // A nested batch is a message of its own; its callers refuse it (-32600).
                if depth < 2 { check(inner, depth: depth + 1) }
            case .failure(let error): check(error)
            }
        }
        return
    }
    require(message.isRequest == (message.kind == .request), "isRequest")
    _ = message.progressToken
    _ = message.notifiedProgressToken
    _ = message.cancelledRequestID
    guard let rawID = message.rawID else {
        require(message.id == nil, "an id without its bytes")
        return
    }
    let replaced = message.replacingID(with: .int(42))
    switch parse(replaced, .lenient) {
    case .success(let again):
        require(again.id == .int(42) && again.kind == message.kind && again.method == message.method, "id splice changed the message")
        require(again.replacingID(withRaw: rawID) == message.bytes, "restoring the id did not give the input back")
    case .failure(let error):
        fail("id splice made the message unparsable: \(error)")
    }
}

private func check(_ error: JSONRPCParseError) {
    require(error.code == -32700 || error.code == -32600, "unexpected code \(error.code)")
    switch parse(error.response, .strict) {
    case .success(let response): require(response.kind == .errorResponse && response.id == .null, "bad error response")
    case .failure(let problem): fail("error response does not parse: \(problem)")
    }
}

/// Any string, written by the envelope as method, string id and error message, reads back as itself.
private func checkEnvelopeRoundTrip(_ text: String) {
    let request = JSONRPCEnvelope.request(rawID: JSONRPCID.encodeString(text), method: text, params: Array("{}".utf8))
    switch parse(request, .strict) {
    case .success(let message):
        require(message.kind == .request && message.method == text && message.id == .string(text), "envelope round trip")
    case .failure(let error):
        fail("envelope of \(text.debugDescription) does not parse: \(error)")
    }
    let error = JSONRPCEnvelope.error(rawID: Array("1".utf8), code: -1, message: text, data: JSONRPCID.encodeString(text))
    guard case .success(let message) = parse(error, .strict), message.kind == .errorResponse else {
        fail("error envelope does not parse")
    }
}

/// What the scanner accepts as JSON, Foundation's parser must read too: a child written with
/// another parser must not see a different message (or none) where the broker saw one.
/// Foundation is more lenient in places (trailing commas), so only this direction is checked;
/// inputs that are not UTF-8, nest deeper than Foundation reads, or escape a surrogate (RFC 8259
/// §8.2 leaves a lone one to the parser: Foundation refuses it, Python keeps it, Go and the
/// scanner's decoder make it U+FFFD) are left out.
private func checkAgainstFoundation(_ bytes: [UInt8], _ lenient: Result<JSONRPCMessage, JSONRPCParseError>) {
    guard case .success = lenient, String(validating: bytes, as: UTF8.self) != nil,
          bytes.count(where: { $0 == UInt8(ascii: "[") || $0 == UInt8(ascii: "{") }) < 200, !escapesSurrogate(bytes)
    else { return }
    do {
        _ = try JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
    } catch {
        fail("the scanner accepted JSON that Foundation refuses: \(error)")
    }
}

/// `\uD800`…`\uDFFF` anywhere (conservatively, also after an escaped backslash).
private func escapesSurrogate(_ bytes: [UInt8]) -> Bool {
    bytes.indices.dropLast(3).contains { index in
        bytes[index] == UInt8(ascii: "\\") && bytes[index + 1] == UInt8(ascii: "u") && (bytes[index + 2] | 0x20) == UInt8(ascii: "d")
            && "89abcdefABCDEF".utf8.contains(bytes[index + 3])
    }
}
