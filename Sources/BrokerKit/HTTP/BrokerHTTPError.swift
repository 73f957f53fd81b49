import Foundation
import Hummingbird
import NIOCore

/// An error that becomes a JSON body `{"error": code, "error_description": description}` with
/// one HTTP status, the shape OAuth clients and operators' tools already parse.
public struct BrokerHTTPError: HTTPResponseError, Sendable {
    public let status: HTTPResponse.Status
    public let code: String
    public let errorDescription: String
    public let headers: HTTPFields

    public init(_ status: HTTPResponse.Status, code: String, description: String, headers: HTTPFields = [:]) {
        self.status = status
        self.code = code
        self.errorDescription = description
        self.headers = headers
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        JSONResponse.make(status: status, object: ["error": code, "error_description": errorDescription], headers: headers)
    }

    public static func payloadTooLarge(limit: Int) -> BrokerHTTPError {
        BrokerHTTPError(.contentTooLarge, code: "payload_too_large", description: "request body exceeds \(limit) bytes")
    }
}

/// Small helpers for JSON responses; `JSONSerialization` keeps key order stable with `.sortedKeys`
/// so documents are byte-identical between calls (cache-friendly, diff-friendly).
public enum JSONResponse {
    public static func make(status: HTTPResponse.Status = .ok, object: Any, headers: HTTPFields = [:]) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
