import Foundation

/// The `flood` tool (tests only): notifications of about `lineBytes` each, written as fast as
/// the stdout pipe takes them until `total` bytes are out. With the request's progress token
/// they are progress notifications (attributed to the call by the broker), otherwise log
/// messages. A polite flood stops when the call is cancelled; `ignoresCancel` plays a hostile
/// child that keeps writing, so a test can watch the broker's memory while it does.
struct DemoFlood: Sendable {
    static let defaultLineBytes = 64 << 10

    let total: Int
    let lineBytes: Int
    let ignoresCancel: Bool
    let progressToken: JSONValue?

    /// The bytes written, or nil when cancelled first (a cancelled request gets no response).
    func run(into out: LineWriter) async -> Int? {
        let (prefix, suffix) = frame()
        let padding = Data(repeating: UInt8(ascii: "x"), count: max(0, min(lineBytes, 16 << 20) - prefix.count - suffix.count - 12))
        var written = 0
        var sequence = 0
        while written < total {
            if Task.isCancelled, !ignoresCancel { return nil }
            sequence += 1
            var line = prefix
            line.append(Data(String(sequence).utf8))
            line.append(Data(",\"message\":\"".utf8))
            line.append(padding)
            line.append(suffix)
            await out.writeLine(line)
            written += line.count + 1
        }
        return written
    }

    /// The line up to the sequence number, and what follows the padding.
    private func frame() -> (Data, Data) {
        if let progressToken {
            let token = progressToken.serialized()
            var prefix = Data(#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"#.utf8)
            prefix.append(token)
            prefix.append(Data(#","progress":"#.utf8))
            return (prefix, Data(#""}}"#.utf8))
        }
        return (Data(#"{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"debug","logger":"flood","seq":"#.utf8),
                Data(#""}}"#.utf8))
    }
}
