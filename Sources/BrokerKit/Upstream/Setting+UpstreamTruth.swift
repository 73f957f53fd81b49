extension Setting {
    public static let upstreamProbeInterval = Setting("FJMCP_UPSTREAM_PROBE_INTERVAL", default: "5m", help: "How often a user's Forgejo token is checked against Forgejo (GET /api/v1/user) while they have live children; a failed call or a broker refresh also checks it, at most once per 2 s (refresh: per 3 min) per user.")
}
