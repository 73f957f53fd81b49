import Foundation

/// Serializes stdout: concurrent request handlers must never interleave partial lines.
actor LineWriter {
    private let handle = FileHandle.standardOutput

    func write(_ message: JSONValue) {
        writeLine(message.serialized())
    }

    func writeLine(_ bytes: Data) {
        var line = bytes
        line.append(0x0A)
        handle.write(line)
    }
}

/// Writes one diagnostic line to stderr; stdout is reserved for protocol messages.
func logError(_ message: String) {
    FileHandle.standardError.write(Data("fjmcp-demo: \(message)\n".utf8))
}
