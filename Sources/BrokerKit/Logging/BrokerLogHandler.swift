import Foundation
import Logging

/// Writes one line per log record to stderr, as human-readable text or as JSON for log
/// shippers.
public struct BrokerLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    private let label: String
    private let format: BrokerConfig.LogFormat

    public init(label: String, level: Logger.Level, format: BrokerConfig.LogFormat) {
        self.label = label
        self.logLevel = level
        self.format = format
    }

    /// Bootstraps swift-log once per process; later calls (tests) are ignored by design of LoggingSystem.
    public static func bootstrap(level: Logger.Level, format: BrokerConfig.LogFormat) {
        LoggingSystem.bootstrap { label in BrokerLogHandler(label: label, level: level, format: format) }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        Self.writeToStandardError(Array(render(event, time: Self.timestamp()).utf8))
    }

    /// One complete line. Record metadata wins over the logger's; in JSON the four fixed fields
    /// win over metadata of the same name, so a caller cannot disguise a record's level or text.
    func render(_ event: LogEvent, time: String) -> String {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        if let error = event.error, merged["error"] == nil { merged["error"] = "\(error)" }
        switch format {
        case .text:
            let fields = merged.sorted { $0.key < $1.key }.map { "\($0.key)=\(Self.quoteIfNeeded(Self.escapeControls("\($0.value)")))" }
                .joined(separator: " ")
            return "\(time) \(event.level) \(label): \(Self.escapeControls("\(event.message)"))" + (fields.isEmpty ? "" : " " + fields) + "\n"
        case .json:
            var object: [String: Any] = ["time": time, "level": "\(event.level)", "logger": label, "message": "\(event.message)"]
            for (key, value) in merged where object[key] == nil { object[key] = Self.jsonValue(value) }
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
            return String(decoding: data, as: UTF8.self) + "\n"
        }
    }

    /// A single write(2) per record: atomic for lines up to PIPE_BUF, never torn by other threads' stdio buffers.
    private static func writeToStandardError(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = write(STDERR_FILENO, buffer.baseAddress.map { $0 + offset }, buffer.count - offset)
                if written <= 0 {
                    if written < 0 && errno == EINTR { continue }
                    return
                }
                offset += written
            }
        }
    }

    private static let timeStyle = Date.ISO8601FormatStyle().year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted)

    private static func timestamp() -> String {
        Date().formatted(timeStyle)
    }

    /// Child stderr and client-supplied values end up in log lines: a raw CR, LF or ANSI escape
    /// could forge a line or hide one in the text format, so control characters are escaped.
    static func escapeControls(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else { return text }
        var escaped = ""
        for scalar in text.unicodeScalars {
            switch scalar.value {
            case 0x0A: escaped += "\\n"
            case 0x0D: escaped += "\\r"
            case 0x09: escaped += "\\t"
            case 0..<0x20, 0x7F: escaped += String(format: "\\x%02x", scalar.value)
            default: escaped.unicodeScalars.append(scalar)
            }
        }
        return escaped
    }

    /// A value with a space, quote, `=` or backslash is quoted, with `\` and `"` escaped, so
    /// a value can neither end its quotes early nor pose as another `key=value`.
    static func quoteIfNeeded(_ text: String) -> String {
        guard text.isEmpty || text.contains(where: { $0 == " " || $0 == "\"" || $0 == "=" || $0 == "\\" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    private static func jsonValue(_ value: Logger.MetadataValue) -> Any {
        switch value {
        case .string(let string): string
        case .stringConvertible(let convertible): convertible.description
        case .array(let array): array.map(jsonValue)
        case .dictionary(let dictionary): dictionary.mapValues(jsonValue)
        }
    }
}
