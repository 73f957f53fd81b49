extension JSONRPCMessage {
    /// `params.name` of a `tools/call` request, read with the byte scanner (no JSON parse on
    /// the hot path). Strict parsing of client messages already refused a repeated `name` and a
    /// lone case variant (`Name`), so the name seen here is the one the child will act on. Nil
    /// for other messages, and when the name is missing or not a string.
    var toolCallName: String? {
        guard kind == .request, method == "tools/call", let paramsRange else { return nil }
        return bytes.withUnsafeBufferPointer { buffer in
            guard let range = Self.member("name", inObjectAt: paramsRange, of: buffer),
                  case .string(let name)? = JSONRPCID.parse(buffer, range)
            else { return nil }
            return name
        }
    }
}
