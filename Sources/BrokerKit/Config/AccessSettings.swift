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
