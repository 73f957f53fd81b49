// libFuzzer target: `application/x-www-form-urlencoded` bodies and query strings as the OAuth
// endpoints read them (OAuthParameters) and as the broker writes them (URLFormEncoding).
// Invariants: any input parses; a value read is non-empty, within its length limit and the
// single value of its name; fields written by URLFormEncoding read back exactly (names unique,
// empty values absent), with any bytes in names and values, except that a value holding a NUL
// is refused (`nulCharacter`).
@testable import BrokerWire

private let names = ["grant_type", "code", "client_id", "redirect_uri", "code_verifier", "state", "resource", "scope", "a", " ", "+"]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOAuthForm(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = text(data, size)
    let parameters = OAuthParameters(encoded: input)
    for name in names {
        do {
            if let value = try parameters.value(name, maxLength: 64) {
                require(!value.isEmpty && value.utf8.count <= 64, "value of \(name) out of bounds")
                require(parameters.contains(name), "a value without its name")
            }
        } catch {
            require(parameters.contains(name), "a problem with an absent name")
        }
    }
    // The input read as alternating names and values separated by U+0001.
    let parts = input.split(separator: "\u{1}", omittingEmptySubsequences: false).map(String.init)
    var fields: [(String, String)] = []
    var seen: Set<String> = []
    for index in stride(from: 0, to: parts.count - 1, by: 2) where !parts[index].isEmpty && seen.insert(parts[index]).inserted {
        fields.append((parts[index], parts[index + 1]))
    }
    let encoded = URLFormEncoding.encode(fields)
    require(encoded.utf8.allSatisfy { $0 < 0x80 && $0 != UInt8(ascii: "+") }, "encoding left a byte a decoder could misread")
    let reread = OAuthParameters(encoded: encoded)
    for (name, value) in fields {
        do {
            let read = try reread.value(name, maxLength: .max)
            require(read == (value.isEmpty ? nil : value), "\(name.debugDescription) read back as \(read.debugDescription)")
        } catch OAuthParameters.Problem.nulCharacter(let refused) where refused == name && value.utf8.contains(0) {
            // A NUL is refused on purpose (no OAuth value has one; PostgreSQL cannot store it).
        } catch {
            fail("\(name.debugDescription) written once read back as \(error)")
        }
    }
    return 0
}
