extension Setting {
    public static let auditLog = Setting("FJMCP_AUDIT_LOG", default: "", help: "File the audit trail is appended to as JSON lines (tool calls and security events; never arguments, results or tokens); reopened on SIGHUP for logrotate. Empty: no file.")
    public static let auditRetention = Setting("FJMCP_AUDIT_RETENTION", default: "90d", help: "How long audit records are kept in the store (read with fjmcp-broker audit); 0s keeps none there (the file alone is the trail).")
}
