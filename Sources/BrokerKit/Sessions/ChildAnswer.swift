#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a child's answer for the one thing upstream truth needs: did the call fail?
enum ChildAnswer {
    /// A JSON-RPC error, or a result with `"isError": true` (a tool's failure, e.g. Forgejo's
    /// 401 inside forgejo-mcp). The result is not parsed again: the envelope scan already told
    /// the kind, and a search for the member name (memchr for its capital E) costs nanoseconds
    /// per kilobyte. A member name with unescaped quotes cannot occur inside a JSON string, so a
    /// match is a real `isError` member; at worst one nested in a tool's data, which costs one
    /// rate-limited probe.
    static func endedInError(_ answer: JSONRPCMessage) -> Bool {
        switch answer.kind {
        case .errorResponse: true
        case .response: hasTrueIsError(answer.bytes)
        case .request, .notification, .batch: false
        }
    }

    /// `"isError"` around its rarest byte, the capital E: memchr finds candidates at memory speed.
    private static let head = Array(#""is"#.utf8)
    private static let tail = Array(#"Error""#.utf8)

    static func hasTrueIsError(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return false }
            var offset = 0
            while offset < buffer.count,
                let found = memchr(base + offset, Int32(UInt8(ascii: "E")), buffer.count - offset)
            {
                let index = UnsafeRawPointer(base).distance(to: UnsafeRawPointer(found))
                let end = index + tail.count
                if index >= head.count, end <= buffer.count, buffer[(index - head.count)..<index].elementsEqual(head),
                    buffer[index..<end].elementsEqual(tail), valueIsTrue(buffer, after: end)
                {
                    return true
                }
                offset = index + 1
            }
            return false
        }
    }

    /// Whether `: true` (whitespace allowed) follows the member name ending at `index`.
    private static func valueIsTrue(_ buffer: UnsafeBufferPointer<UInt8>, after index: Int) -> Bool {
        var index = skipWhitespace(buffer, from: index)
        guard index < buffer.count, buffer[index] == UInt8(ascii: ":") else { return false }
        index = skipWhitespace(buffer, from: index + 1)
        return buffer.count - index >= 4 && buffer[index..<index + 4].elementsEqual("true".utf8)
    }

    private static func skipWhitespace(_ buffer: UnsafeBufferPointer<UInt8>, from start: Int) -> Int {
        var index = start
        while index < buffer.count {
            switch buffer[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return index
            }
        }
        return index
    }
}
