/// Who may connect, and with which clients (`FJMCP_ALLOWED_*`, `FJMCP_STATIC_CLIENTS_FILE`,
/// `FJMCP_ACCESS_CONTACT`). The defaults restrict nothing, as before these settings existed.
public struct AccessSettings: Sendable {
    public var signIn = SignInPolicy()
    /// Where clients may redirect; nil: anywhere ``RedirectURIPolicy`` accepts.
    public var redirectHosts: ClientHostAllowlist?
    /// Which hosts' metadata documents are clients; nil: any host the fetcher may reach.
    public var clientIDHosts: ClientHostAllowlist?
    public var staticClients: [StaticClient] = []
    /// Shown to a refused user as whom to ask; nil: generic text.
    public var contact: String?

    public init() {}
}

extension AccessSettings {
    /// `check-config`'s account of who may connect, one line each, so an operator sees the
    /// effect of the lists (an empty list means "no restriction", easy to misread).
    public var summary: [String] {
        let signInLine = signIn.isOpen
            ? "sign-in: every Forgejo user"
            : "sign-in: \(signIn.users.count) user(s), \(signIn.organizations.count) organisation(s), \(signIn.teams.count) team(s)"
        func hosts(_ list: ClientHostAllowlist?) -> String {
            guard let list else { return "any" }
            return (list.hosts.sorted() + list.schemes.sorted().map { $0 + ":" }).joined(separator: ",")
        }
        return [
            signInLine,
            "redirect hosts: \(hosts(redirectHosts)); client id hosts: \(hosts(clientIDHosts)); static clients: \(staticClients.count)",
        ]
    }
}
