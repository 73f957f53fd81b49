extension Setting {
    public static let auditLog = Setting("FJMCP_AUDIT_LOG", default: "", help: "File the audit trail is appended to as JSON lines (tool calls and security events; never arguments, results or tokens); reopened on SIGHUP for logrotate. Empty: no file.")
    public static let auditRetention = Setting("FJMCP_AUDIT_RETENTION", default: "90d", help: "How long audit records are kept in the store (read with fjmcp-broker audit); 0s keeps none there (the file alone is the trail).")
}

extension ConfigReader {
    /// Both audit settings; nil after recording a problem. The file's directory must exist and
    /// be writable (and the file, if it exists, a writable regular file), so a typo fails at
    /// start, not at the first record.
    mutating func auditSettings() -> AuditSettings? {
        let retention = duration(.auditRetention)
        let path = string(.auditLog) ?? ""
        let problem = path.isEmpty ? nil : AuditSettings.problem(withLogPath: path)
        if let problem { problems.append("\(Setting.auditLog.env)=\(path): \(problem)") }
        guard let retention, problem == nil else { return nil }
        return AuditSettings(logPath: path.isEmpty ? nil : path, retention: retention)
    }
}
