import Foundation

/// Where the audit trail goes (`FJMCP_AUDIT_LOG`, `FJMCP_AUDIT_RETENTION`).
public struct AuditSettings: Sendable, Equatable {
    /// The JSON-lines file; nil: none.
    public var logPath: String?
    /// How long the store keeps records; zero: records are not stored.
    public var retention: Duration

    public init(logPath: String? = nil, retention: Duration = Setting.auditRetention.defaultDuration) {
        self.logPath = logPath
        self.retention = retention
    }

    /// Whether the store keeps records at all.
    public var storesRecords: Bool { retention > .zero }

    /// The path itself, not what a symlink there points to (`lstat`), since the file is never
    /// opened through one; only a regular file is accepted (see `AuditFileSink.reopen`).
    static func problem(withLogPath path: String) -> String? {
        let directory = (path as NSString).deletingLastPathComponent
        let folder = directory.isEmpty ? "." : directory
        var info = stat()
        if lstat(path, &info) == 0 {
            if let problem = AuditFileSink.problem(withType: info.st_mode) { return problem }
            return access(path, W_OK) == 0 ? nil : "the file is not writable by this user"
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
            return "the directory \(folder) does not exist"
        }
        return access(folder, W_OK) == 0 ? nil : "the directory \(folder) is not writable by this user"
    }
}
