// libFuzzer target: the credentials a request carries — the `Authorization` header parsers
// (Bearer for /mcp, Basic for client authentication) and the browser-binding cookie check, with
// the base64url/hex codecs behind tokens and cookies. Invariants: any header value, alone or
// repeated, yields a token, a credential pair or a typed failure; a token is non-empty, without
// surrounding spaces and part of the header; credentials encoded as RFC 6749 §2.3.1 says read
// back exactly; a well-formed binding is 32 bytes of base64url and every 32 bytes encode to
// one; base64url and hex round-trip any bytes.
import Foundation

@testable import BrokerWire

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCredentials(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
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
    checkCookieAndCodecs(Array(UnsafeBufferPointer(start: data, count: size)), input)
    return 0
}

private func checkCookieAndCodecs(_ bytes: [UInt8], _ input: String) {
    if BrowserBinding.isWellFormed(input) {
        require(Base64URL.decode(input)?.count == 32, "a well-formed binding that is not 32 bytes")
    }
    if bytes.count >= 32 {
        require(BrowserBinding.isWellFormed(Base64URL.encode(bytes.prefix(32))), "32 bytes did not encode to a binding")
    }
    require(Base64URL.decode(Base64URL.encode(bytes)) == bytes, "base64url did not round-trip")
    require(Hex.decode(Hex.encode(bytes)) == bytes, "hex did not round-trip")
    _ = Base64URL.decode(input)
    _ = Hex.decode(input)
}
