#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Builds the child's environment from scratch. The broker's own environment holds its secrets
/// (client secret, sealing key), so the child only ever sees what is listed here.
public enum ChildEnvironment {
    public static let defaultPath = "/usr/local/bin:/usr/bin:/bin"

    /// - Parameters:
    ///   - extraEntries: `NAME=value` sets a variable; a bare `NAME` copies the broker's value (if any).
    ///   - credentials: the Forgejo URL and token under the names the child reads; applied last so
    ///     that extra entries cannot replace the session's own token.
    public static func build(
        extraEntries: [String],
        credentials: [String: String],
        brokerEnvironment: [String: String]
    ) throws(ChildError) -> [String: String] {
        var environment = ["PATH": defaultPath]
        for entry in extraEntries {
            if let equals = entry.firstIndex(of: "=") {
                let name = String(entry[..<equals])
                guard isValidName(name) else { throw .invalidEnvironmentEntry(name) }
                environment[name] = String(entry[entry.index(after: equals)...])
            } else {
                guard isValidName(entry) else { throw .invalidEnvironmentEntry(entry) }
                if let value = brokerEnvironment[entry] { environment[entry] = value }
            }
        }
        for (name, value) in credentials {
            guard isValidName(name) else { throw .invalidEnvironmentEntry(name) }
            environment[name] = value
        }
        return environment
    }

    /// Whether `name` is a portable environment variable name: an ASCII letter or `_`, then
    /// ASCII letters, digits or `_`. Public so that configuration loading validates names by
    /// exactly the rules the child environment enforces.
    public static func isValidName(_ name: String) -> Bool {
        guard let first = name.utf8.first, first == UInt8(ascii: "_") || isASCIILetter(first) else { return false }
        return name.utf8.allSatisfy { byte in
            byte == UInt8(ascii: "_") || isASCIILetter(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
        }
    }

    private static func isASCIILetter(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
    }

    /// Resolves like `execvp`, but against the CHILD's PATH, so what runs does not depend on
    /// how the broker itself was started.
    public static func resolveExecutable(_ name: String, path: String?) throws(ChildError) -> String {
        if name.contains("/") {
            guard access(name, X_OK) == 0 else { throw .executableNotFound(name) }
            return name
        }
        for directory in (path ?? defaultPath).split(separator: ":") where !directory.isEmpty {
            let candidate = "\(directory)/\(name)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        throw .executableNotFound(name)
    }
}
