import Foundation
import Hummingbird
import NIOCore

/// The broker's only HTML: the consent page and error pages. Self-contained (inline style, no
/// scripts, no external assets) so the CSP can forbid everything else.
enum OAuthPages {
    struct Consent {
        let clientName: String
        let clientID: String
        let isMetadataDocument: Bool
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
        .warn{color:#8a4b00}code{word-break:break-all}button{font-size:1rem;padding:.5rem 1rem;margin-right:.5rem}
        """

    static func consent(_ page: Consent) -> String {
        let identity = page.isMetadataDocument
            ? "<p>Client identifier: <code>\(escape(page.clientID))</code></p>"
            : "<p>The name above was chosen by the application itself when it registered.</p>"
        let loopbackWarning = page.redirectIsLoopback
            ? "<p class=\"warn\">This application receives the result on your own computer (\(escape(page.redirectHost))). Only continue if you just started it.</p>"
            : ""
        let scopes = page.forgejoScopes.isEmpty ? "full access to the Forgejo API as you" : "Forgejo scopes: <code>\(escape(page.forgejoScopes))</code>"
        return document(title: "Authorize \(page.clientName)", body: """
            <h1>Authorize <b>\(escape(page.clientName))</b>?</h1>
            <div class="box">
            <p>After you approve, you will sign in to Forgejo at <b>\(escape(page.forgejoHost))</b>, and this application will act on your Forgejo account through this broker with \(scopes).</p>
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
            """)
    }

    static func response(_ html: String, status: HTTPResponse.Status = .ok, formTargets: [String] = []) -> Response {
        let formAction = (["'self'"] + formTargets).joined(separator: " ")
        let headers: HTTPFields = [
            .contentType: "text/html; charset=utf-8",
            .contentSecurityPolicy: "default-src 'none'; style-src 'unsafe-inline'; form-action \(formAction); frame-ancestors 'none'; base-uri 'none'",
            .cacheControl: "no-store",
        ]
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
            .replacingOccurrences(of: "'", with: "&#39;")
    }

    private static func document(title: String, body: String) -> String {
        """
        <!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
        <title>\(escape(title))</title><style>\(style)</style></head><body>
        \(body)
        </body></html>
        """
    }
}
