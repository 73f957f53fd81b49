import Foundation
import Hummingbird
import NIOCore

/// The broker's only HTML: the consent page, the account page (AccountPages.swift) and error pages. Self-contained (inline style, no
/// scripts, no external assets) so the CSP can forbid everything else.
enum OAuthPages {
    struct Consent {
        let clientName: String
        let clientID: String
        let isMetadataDocument: Bool
        /// Listed in `FJMCP_STATIC_CLIENTS_FILE` by the operator.
        let isPreconfigured: Bool
        let redirectHost: String
        let redirectIsLoopback: Bool
        let forgejoHost: String
        let forgejoScopes: String
        let requestID: String
        let csrf: String
    }

    private static let style = """
        body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#222}
        h1{font-size:1.3rem}.box{border:1px solid #ccc;border-radius:6px;padding:1rem;margin:1rem 0}
        .box>:first-child{margin-top:0}.box>:last-child{margin-bottom:0}.hint{color:#555;font-size:.9rem}
        .warn{color:#8a4b00}code{word-break:break-all}button{font-size:1rem;padding:.5rem 1rem;margin:0 .5rem .5rem 0}
        """

    static func consent(_ page: Consent) -> String {
        let identity = page.isPreconfigured
            ? "<p>This application was set up by the administrator of this server.</p>"
            : page.isMetadataDocument
            ? "<p>Client identifier: <code>\(escape(page.clientID))</code></p>"
            : "<p>The name above was chosen by the application itself when it registered.</p>"
        let loopbackWarning = page.redirectIsLoopback
            ? "<p class=\"warn\">This application receives the result on your own computer (\(escape(page.redirectHost))). Only continue if you just started it.</p>"
            : ""
        let scopes = page.forgejoScopes.isEmpty ? "full access to the Forgejo API as you" : "Forgejo scopes: <code>\(escape(page.forgejoScopes))</code>"
        return document(title: "Authorize \(page.clientName)", body: """
            <h1>Authorize <b>\(escape(page.clientName))</b>?</h1>
            <div class="box">
            <p>After you approve, you continue at Forgejo (<b>\(escape(page.forgejoHost))</b>), where you sign in if you are not signed in already. This application will then act on your Forgejo account through this broker with \(scopes).</p>
            <p>You will be sent back to <b>\(escape(page.redirectHost))</b>.</p>
            \(identity)
            \(loopbackWarning)
            </div>
            <form method="post" action="/oauth/consent">
            <input type="hidden" name="request" value="\(escape(page.requestID))">
            <input type="hidden" name="csrf" value="\(escape(page.csrf))">
            <button type="submit" name="decision" value="approve">Approve</button>
            <button type="submit" name="decision" value="deny">Deny</button>
            </form>
            """)
    }

    static func error(title: String, message: String, reason: String, requestID: String) -> String {
        document(title: title, body: """
            <h1>\(escape(title))</h1>
            <p>\(escape(message))</p>
            <p>Reason: <code>\(escape(reason))</code> &middot; request <code>\(escape(requestID))</code></p>
            <p class="hint">You can close this page and start again from your application. If this keeps happening, tell the administrator of this server the request id above.</p>
            """)
    }

    /// A refused sign-in: what happened, whom to ask, and the way back to the application,
    /// which learns `access_denied` there (a link, not a redirect, so the user reads the page first).
    static func refusal(title: String, message: String, returnURL: String?, requestID: String) -> String {
        let back = returnURL.map { "<p><a href=\"\(escape($0))\">Return to the application</a> (it is told that access was denied).</p>" } ?? ""
        return document(title: title, body: """
            <h1>\(escape(title))</h1>
            <p>\(escape(message))</p>
            \(back)
            <p class="hint">Request <code>\(escape(requestID))</code>.</p>
            """)
    }

    /// An HTML page. `formTargets` are the CSP sources the page's form may reach besides 'self'
    /// (see `formActionSource(for:)`); pages without a form need none.
    static func response(_ html: String, status: HTTPResponse.Status = .ok, formTargets: [String] = []) -> Response {
        var formAction = ["'self'"]
        for target in formTargets where !formAction.contains(target) { formAction.append(target) }
        let headers: HTTPFields = [
            .contentType: "text/html; charset=utf-8",
            .contentSecurityPolicy: "default-src 'none'; style-src 'unsafe-inline'; form-action \(formAction.joined(separator: " ")); frame-ancestors 'none'; base-uri 'none'",
            .cacheControl: "no-store",
        ]
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    /// The CSP source that lets a form submission's redirect chain reach `url`: its origin
    /// (`scheme://host[:port]`) for http(s), its scheme alone (`com.example.app:`) for a native
    /// app's private-use scheme (RFC 8252 §7.1), which has no origin to name, and for an IPv6
    /// literal host, which CSP's source grammar cannot express. Chromium checks
    /// `form-action` against every redirect that follows a form post, not only the form's target,
    /// so the consent page must allow each hop: Forgejo, the broker's callback ('self') and the
    /// client's redirect URI. Nil when `url` cannot be written as a source without widening it
    /// (characters a CSP source may not hold); such a URL never passes the redirect URI policy.
    static func formActionSource(for url: String) -> String? {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
              let first = scheme.unicodeScalars.first, isASCIILetter(first),
              scheme.unicodeScalars.allSatisfy({ isASCIILetter($0) || isASCIIDigit($0) || "+-.".unicodeScalars.contains($0) })
        else { return nil }
        guard scheme == "http" || scheme == "https" else { return scheme + ":" }
        guard let host = components.percentEncodedHost?.lowercased(), !host.isEmpty else { return nil }
        // CSP host sources cannot name an IPv6 literal (`http://[::1]:8080/cb`, a native app's
        // loopback redirect): its scheme is the tightest source that still lets the redirect through.
        if host.contains(":") { return scheme + ":" }
        guard host.unicodeScalars.allSatisfy({ isASCIILetter($0) || isASCIIDigit($0) || $0 == "-" || $0 == "." }) else { return nil }
        return "\(scheme)://\(host)" + (components.port.map { ":\($0)" } ?? "")
    }

    private static func isASCIILetter(_ c: Unicode.Scalar) -> Bool { ("a"..."z").contains(c) || ("A"..."Z").contains(c) }
    private static func isASCIIDigit(_ c: Unicode.Scalar) -> Bool { ("0"..."9").contains(c) }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
            .replacingOccurrences(of: "'", with: "&#39;")
    }

    static func document(title: String, body: String) -> String {
        """
        <!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
        <title>\(escape(title))</title><style>\(style)</style></head><body>
        \(body)
        </body></html>
        """
    }
}
