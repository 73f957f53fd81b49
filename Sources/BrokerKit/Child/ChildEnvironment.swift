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
                guard EnvironmentName.isValid(name) else { throw .invalidEnvironmentEntry(name) }
                environment[name] = String(entry[entry.index(after: equals)...])
            } else {
                guard EnvironmentName.isValid(entry) else { throw .invalidEnvironmentEntry(entry) }
                if let value = brokerEnvironment[entry] { environment[entry] = value }
            }
        }
        for (name, value) in credentials {
            guard EnvironmentName.isValid(name) else { throw .invalidEnvironmentEntry(name) }
            environment[name] = value
        }
        return environment
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
