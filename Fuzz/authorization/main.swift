// libFuzzer target: the `Authorization` header parsers (Bearer for /mcp, Basic for client
// authentication). Invariants: any header value, alone or repeated, yields a token, a
// credential pair or a typed failure; a token never has surrounding spaces and is part of the
// header; credentials encoded as RFC 6749 §2.3.1 says read back exactly.
import Foundation

@testable import BrokerWire

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzAuthorization(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = text(data, size)
    for values in [[input], [input, input], ["Bearer " + input], ["Basic " + input]] {
        if let token = try? AuthorizationHeader.bearerToken(values) {
            require(!token.isEmpty, "empty bearer token")
            require(token == token.trimmingCharacters(in: .whitespaces), "token keeps surrounding spaces")
            require(values.count == 1 && values[0].contains(token), "token not from the header")
        }
        if let credentials = try? AuthorizationHeader.basicCredentials(values) {
            require(!credentials.id.isEmpty, "empty client id")
        }
    }
    // Round trip: the input split at its first U+0001 into a client id and a secret.
    let parts = input.split(separator: "\u{1}", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
    let id = parts[0], secret = parts.count > 1 ? parts[1] : ""
    let header = "Basic " + Data((URLFormEncoding.escape(id) + ":" + URLFormEncoding.escape(secret)).utf8).base64EncodedString()
    if header.utf8.count <= 4_096 {
        do {
            let read = try AuthorizationHeader.basicCredentials([header])
            require(!id.isEmpty && read?.id == id && read?.secret == secret, "Basic credentials did not read back")
        } catch {
            require(id.isEmpty, "Basic credentials with a non-empty id refused: \(error)")
        }
    }
    // Tokens are visible ASCII (a leading combining mark would join the space before it).
    let token = String(input.unicodeScalars.filter { (0x21...0x7E).contains($0.value) })
    if !token.isEmpty {
        require((try? AuthorizationHeader.bearerToken(["Bearer " + token])) == token, "a bearer token did not read back")
    }
    return 0
}
