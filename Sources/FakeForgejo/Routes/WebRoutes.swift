import Foundation
import Hummingbird

/// Browser routes: `/user/login`, `/login/oauth/authorize`, `/login/oauth/grant`.
struct WebRoutes {
    static let sessionCookie = "i_like_gitea"
    static let redirectCookie = "redirect_to"

    let state: FakeForgejoState

    func register(on router: Router<FakeRequestContext>) {
        router.get("/") { _, _ in FakeResponses.html(HTMLPage.error("fake Forgejo: nothing here")) }
        router.get("/user/login") { _, _ in FakeResponses.html(HTMLPage.login(error: nil)) }
        router.post("/user/login") { request, context in try await logIn(request, context: context) }
        router.get("/login/oauth/authorize") { request, _ in
            await authorize(request, fields: FormFields(encoded: request.uri.query ?? ""))
        }
        router.post("/login/oauth/authorize") { request, context in
            let query = FormFields(encoded: request.uri.query ?? "")
            let body = try await FakeResponses.formFields(request, context: context)
            return await authorize(request, fields: FormFields(pairs: body.pairs + query.pairs))
        }
        router.post("/login/oauth/grant") { request, context in
            let fields = try await FakeResponses.formFields(request, context: context)
            return render(await state.submitConsent(fields, sessionID: sessionID(request)), request: request)
        }
    }

    private func sessionID(_ request: Request) -> String? {
        request.cookies[Self.sessionCookie]?.value
    }

    private func authorize(_ request: Request, fields: FormFields) async -> Response {
        render(await state.authorize(fields, sessionID: sessionID(request)), request: request)
    }

    private func render(_ outcome: AuthorizeOutcome, request: Request) -> Response {
        switch outcome {
        case .loginRequired:
            var response = FakeResponses.seeOther("/user/login")
            // Cookie values may not contain every URL character; keep only unreserved ones raw.
            response.setCookie(Cookie(name: Self.redirectCookie, value: FormFields.escape(request.uri.string), path: "/"))
            return response
        case .errorPage(let message):
            return FakeResponses.html(HTMLPage.error(message), status: .badRequest)
        case .badRequest:
            return FakeResponses.text("Bad Request", status: .badRequest)
        case .redirect(let location):
            return FakeResponses.seeOther(location)
        case .consent(let page):
            return FakeResponses.html(HTMLPage.consent(page))
        }
    }

    private func logIn(_ request: Request, context: FakeRequestContext) async throws -> Response {
        let fields = try await FakeResponses.formFields(request, context: context)
        guard
            let session = await state.logIn(
                userName: fields["user_name"], password: fields["password"], sessionID: sessionID(request))
        else {
            return FakeResponses.html(HTMLPage.login(error: "Username or password is incorrect."))
        }
        let saved = request.cookies[Self.redirectCookie]?.value.removingPercentEncoding ?? "/"
        // Only local paths, so the cookie cannot turn the login into an open redirect.
        let target = saved.hasPrefix("/") && !saved.hasPrefix("//") ? saved : "/"
        var response = FakeResponses.seeOther(target)
        response.setCookie(Cookie(name: Self.sessionCookie, value: session, path: "/"))
        response.setCookie(Cookie(name: Self.redirectCookie, value: "", maxAge: 0, path: "/"))
        return response
    }
}
