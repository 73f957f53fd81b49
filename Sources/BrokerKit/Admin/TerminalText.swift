/// Text that clients or users chose (client ids, tool names, request ids, logins) on its way to
/// an operator's terminal in a table: a control character there is not data but a command to
/// the terminal (ESC starts sequences that move the cursor, recolour, retitle the window or
/// rewrite what the operator already saw; CR and LF forge table rows), and the bidi controls
/// reorder everything that follows on the line ("Trojan Source"). JSON output needs none of
/// this: its encoder escapes control characters itself.
public enum TerminalText {
    /// `text` with each such scalar written as `\u{…}` (hex), and each backslash doubled so a
    /// client cannot write text that looks like an escape of something else.
    public static func escaped(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { $0 == "\\" || needsEscape($0) }) else { return text }
        var result = ""
        for scalar in text.unicodeScalars {
            if scalar == "\\" {
                result += "\\\\"
            } else if needsEscape(scalar) {
                result += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    /// C0 and C1 controls and DEL, line and paragraph separators, and every format character:
    /// the bidi marks, embeddings, overrides and isolates, and the invisible ones (zero-width
    /// space and joiners, word joiner, BOM) that make two different names look the same.
    private static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator: true
        default: false
        }
    }
}
