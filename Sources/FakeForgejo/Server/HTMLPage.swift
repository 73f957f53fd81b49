import Foundation

/// The few HTML pages of the web flow, kept minimal with stable field names so a scripted
/// browser can fill them in.
enum HTMLPage {
    static func login(error: String?) -> String {
        let message = error.map { "<p class=\"error\">\(escape($0))</p>" } ?? ""
        return page(
            title: "Sign in",
            body: """
                \(message)<form method="post" action="/user/login">
                <input type="text" name="user_name"><input type="password" name="password">
                <button type="submit">Sign in</button></form>
                """)
    }

    static func consent(_ consent: ConsentPage) -> String {
        let request = consent.request
        let hidden = [
            ("_csrf", consent.csrfToken), ("client_id", request.clientID), ("state", request.state),
            ("scope", request.scope), ("nonce", request.nonce), ("redirect_uri", request.redirectURI),
        ].map { "<input type=\"hidden\" name=\"\($0.0)\" value=\"\(escape($0.1))\">" }.joined(separator: "\n")
        return page(
            title: "Authorize application",
            body: """
                <p>Authorize <b>\(escape(consent.appName))</b> to access your account?</p>
                <p>With scopes: \(escape(request.scope))</p>
                <p>You will be redirected to \(escape(request.redirectURI))</p>
                <form method="post" action="/login/oauth/grant">
                \(hidden)
                <button type="submit" name="granted" value="true">Authorize Application</button>
                <button type="submit" name="granted" value="false">Cancel</button></form>
                """)
    }

    static func error(_ message: String) -> String {
        page(title: "Error", body: "<p class=\"error\">\(escape(message))</p>")
    }

    private static func page(title: String, body: String) -> String {
        "<!DOCTYPE html><html><head><title>\(title) - Forgejo</title></head><body>\n\(body)\n</body></html>"
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;")
            .replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
            .replacingOccurrences(of: "\"", with: "&quot;")
            .replacingOccurrences(of: "'", with: "&#39;")
    }
}
