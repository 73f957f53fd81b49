import Foundation

/// The connected-applications page: what a user has granted through this broker, and a way to
/// take it back. Same rules as the other pages (no scripts, no external assets).
extension OAuthPages {
    struct ConnectedApp {
        let grantID: String
        let clientName: String
        let clientID: String
        let redirectHosts: [String]
        let firstUse: Date
        let lastUse: Date
    }

    struct Account {
        let login: String
        let apps: [ConnectedApp]
        let csrf: String
        /// The name of the application just disconnected, for a confirmation line.
        let revokedName: String?
    }

    static func account(_ page: Account) -> String {
        let confirmation = page.revokedName.map { "<p class=\"box\" id=\"revoked\">Disconnected <b>\(escape($0))</b>.</p>" } ?? ""
        let list = page.apps.isEmpty
            ? "<p id=\"no-apps\">No application is connected to your Forgejo account through this server.</p>"
            : page.apps.map { connectedApp($0, csrf: page.csrf) }.joined(separator: "\n")
        return document(title: "Connected applications", body: """
            <h1>Connected applications</h1>
            <p>Signed in as <b id="login">\(escape(page.login))</b>. These applications can act on your Forgejo account through this server. Disconnecting one ends its sessions at once; it must ask you again to come back.</p>
            \(confirmation)
            \(list)
            <form method="post" action="/account/sign-out">
            <input type="hidden" name="csrf" value="\(escape(page.csrf))">
            <button type="submit">Sign out</button>
            </form>
            """)
    }

    private static func connectedApp(_ app: ConnectedApp, csrf: String) -> String {
        let hosts = app.redirectHosts.isEmpty ? "" : "<p>Sends results to <b>\(app.redirectHosts.map(escape).joined(separator: ", "))</b></p>"
        return """
            <div class="box app" data-client-id="\(escape(app.clientID))">
            <p><b class="app-name">\(escape(app.clientName))</b></p>
            \(hosts)
            <p class="hint">Connected \(day(app.firstUse)) &middot; last used \(day(app.lastUse))</p>
            <form method="post" action="/account/revoke">
            <input type="hidden" name="grant" value="\(escape(app.grantID))">
            <input type="hidden" name="csrf" value="\(escape(csrf))">
            <button type="submit" class="revoke">Disconnect</button>
            </form>
            </div>
            """
    }

    /// UTC, the same for every viewer (the page has no script to localise it).
    private static func day(_ date: Date) -> String {
        date.ISO8601Format().replacingOccurrences(of: "T", with: " ").replacingOccurrences(of: "Z", with: " UTC")
    }
}
