/// Every JSON-RPC message the broker writes itself, assembled from bytes it already holds (raw
/// ids, JSON-encoded results and params) without a JSON encoder. The one place that knows the
/// envelope's shape: a new message kind is a new case here, never string concatenation at the
/// call site.
public enum JSONRPCEnvelope {
    private static let head = Array(#"{"jsonrpc":"2.0""#.utf8)
    private static let null = Array("null".utf8)

    /// `{"jsonrpc":"2.0","id":<rawID>,"result":<result>}`.
    public static func result(rawID: [UInt8], result: [UInt8]) -> [UInt8] {
        head + Array(#","id":"#.utf8) + rawID + Array(#","result":"#.utf8) + result + Array("}".utf8)
    }

    /// An error response. Without `rawID` the body has no `id` member: the MCP transport allows
    /// that for an error about the HTTP request as a whole (bad header, bad Origin). `data` is
    /// raw JSON.
    public static func error(rawID: [UInt8]?, code: Int, message: String, data: [UInt8]? = nil) -> [UInt8] {
        var bytes = head
        if let rawID { bytes += Array(#","id":"#.utf8) + rawID }
        bytes += Array(#","error":{"code":\#(code),"message":"#.utf8) + JSONRPCID.encodeString(message)
        if let data { bytes += Array(#","data":"#.utf8) + data }
        return bytes + Array("}}".utf8)
    }

    /// The answer to a server→client request nobody will take, so its sender does not wait for
    /// ever: `ping` succeeds, anything else is refused with -32601 ("<method> is not available:
    /// <reason>"), what a client without that capability answers.
    public static func refusal(rawID: [UInt8], method: String?, reason: String) -> [UInt8] {
        guard method != "ping" else { return result(rawID: rawID, result: Array("{}".utf8)) }
        return error(rawID: rawID, code: -32601, message: "\(method ?? "request") is not available: \(reason)")
    }

    /// An error response whose error object (`{"code":…,"message":…}`) is already raw JSON.
    public static func error(rawID: [UInt8], object: [UInt8]) -> [UInt8] {
        head + Array(#","id":"#.utf8) + rawID + Array(#","error":"#.utf8) + object + Array("}".utf8)
    }

    /// An error response to a message whose id could not be read (`"id":null`).
    public static func error(code: Int, message: String) -> [UInt8] {
        error(rawID: null, code: code, message: message)
    }

    /// A request the broker sends (to a child) or relays; `params` is a raw JSON object.
    public static func request(rawID: [UInt8], method: String, params: [UInt8]?) -> [UInt8] {
        var bytes = head + Array(#","id":"#.utf8) + rawID + Array(#","method":"#.utf8) + JSONRPCID.encodeString(method)
        if let params { bytes += Array(#","params":"#.utf8) + params }
        return bytes + Array("}".utf8)
    }

    /// A notification; `params` is a raw JSON object.
    public static func notification(method: String, params: [UInt8]?) -> [UInt8] {
        var bytes = head + Array(#","method":"#.utf8) + JSONRPCID.encodeString(method)
        if let params { bytes += Array(#","params":"#.utf8) + params }
        return bytes + Array("}".utf8)
    }

    /// `notifications/cancelled` for the request with `rawID`, with a human-readable reason.
    public static func cancelled(rawID: [UInt8], reason: String) -> [UInt8] {
        notification(method: "notifications/cancelled",
                     params: Array(#"{"requestId":"#.utf8) + rawID + Array(#","reason":"#.utf8) + JSONRPCID.encodeString(reason) + Array("}".utf8))
    }
}
