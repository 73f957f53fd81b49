/// Splits a configured command line (`FJMCP_CHILD_COMMAND`) into words with the quoting an
/// operator expects from a shell — single quotes, double quotes, backslash — but without any
/// expansion, so configuration can never run shell code.
public enum ChildCommandLine {
    public static func split(_ commandLine: String) throws(ChildError) -> [String] {
        var words: [String] = []
        var current = ""
        var inWord = false
        var iterator = commandLine.makeIterator()
        while let character = iterator.next() {
            switch character {
            case " ", "\t", "\n":
                if inWord { words.append(current) }
                current = ""
                inWord = false
            case "'":
                inWord = true
                while true {
                    guard let next = iterator.next() else { throw .invalidCommandLine("unterminated single quote") }
                    if next == "'" { break }
                    current.append(next)
                }
            case "\"":
                inWord = true
                while true {
                    guard let next = iterator.next() else { throw .invalidCommandLine("unterminated double quote") }
                    if next == "\"" { break }
                    if next == "\\" {
                        guard let escaped = iterator.next() else {
                            throw .invalidCommandLine("unterminated double quote")
                        }
                        if !["\"", "\\", "$", "`"].contains(escaped) { current.append("\\") }
                        current.append(escaped)
                    } else {
                        current.append(next)
                    }
                }
            case "\\":
                guard let escaped = iterator.next() else { throw .invalidCommandLine("trailing backslash") }
                inWord = true
                current.append(escaped)
            default:
                inWord = true
                current.append(character)
            }
        }
        if inWord { words.append(current) }
        guard !words.isEmpty else { throw .invalidCommandLine("empty command") }
        return words
    }
}
