import Foundation
import Hummingbird

/// `POST /login/oauth/access_token`: form or JSON body, every error a 400 JSON object.
struct TokenRoute {
    let state: FakeForgejoState

    func register(on router: Router<FakeRequestContext>) {
        router.post("/login/oauth/access_token") { request, context in
            try await handle(request, context: context)
        }
    }

    private func handle(_ request: Request, context: FakeRequestContext) async throws -> Response {
        let buffer = try await request.body.collect(upTo: context.maxUploadSize)
        let body = String(buffer: buffer)
        let isJSON = request.headers[.contentType]?.lowercased().hasPrefix("application/json") ?? false
        let fields = isJSON ? Self.jsonFields(body) : FormFields(encoded: body)
        let tokenRequest: TokenRequest
        do {
            tokenRequest = try TokenRequest(fields: fields, authorization: request.headers[.authorization])
        } catch {
            await state.recordTokenRequest(grantType: fields["grant_type"], result: .failure(error))
            return Self.errorResponse(error)
        }
        switch await state.token(tokenRequest) {
        case .success(var response):
            if context.omitRefreshToken { response.refreshToken = nil }
            return FakeResponses.json(response)
        case .failure(let error):
            return Self.errorResponse(error)
        }
    }

    private static func errorResponse(_ error: TokenEndpointError) -> Response {
        FakeResponses.json(["error": error.error, "error_description": error.description], status: .badRequest)
    }

    /// Go binds only string members of the JSON object into the form; anything else is absent.
    private static func jsonFields(_ body: String) -> FormFields {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any] else {
            return FormFields(pairs: [])
        }
        return FormFields(pairs: object.compactMap { key, value in (value as? String).map { (key, $0) } })
    }
}
