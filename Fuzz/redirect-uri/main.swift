// libFuzzer target: redirect URI validation and matching (RedirectURIPolicy), the operator's
// client host allowlist, and the address and URL parsing behind them (IPAddress, IPRange,
// PublicURL). Invariants: an accepted redirect URI is absolute, bounded, without fragment or
// credentials, of an allowed scheme, and http only on loopback; matching is reflexive and
// symmetric; an allowlist permits its own hosts; an address's text form parses back to the
// same address; a range contains its own network address; a parsed public URL's origin + path
// parses back to the same URL.
import Foundation

@testable import BrokerWire

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRedirectURI(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = text(data, size)
    checkRedirectURI(input)
    if let address = IPAddress(parsing: input) {
        require(address.bytes.count == 16, "address not 16 bytes")
        require(IPAddress(parsing: address.text) == address, "\(input.debugDescription) → \(address.text) does not read back")
    }
    if let range = IPRange(parsing: input) {
        require(range.contains(range.network), "a range without its own network address")
        require((0...128).contains(range.prefixLength), "prefix out of bounds")
    }
    _ = PublicURL.isLoopbackHost(input)
    for allowPath in [false, true] {
        guard case .success(let url) = PublicURL.parse(input, allowPath: allowPath) else { continue }
        require(!url.host.isEmpty && (url.scheme == "http" || url.scheme == "https"), "a public URL without scheme or host")
        guard case .success(let again) = PublicURL.parse(url.origin + url.path, allowPath: allowPath) else {
            fail("\(input.debugDescription) → \((url.origin + url.path).debugDescription) does not parse")
        }
        require(again == url, "\(input.debugDescription) does not read back the same")
    }
    return 0
}

private func checkRedirectURI(_ input: String) {
    if RedirectURIPolicy.problem(with: input) == nil {
        require(input.utf8.count <= RedirectURIPolicy.maxLength && !input.contains("#"), "accepted an overlong URI or a fragment")
        guard let components = URLComponents(string: input), let scheme = components.scheme?.lowercased() else {
            fail("accepted \(input.debugDescription) without a scheme")
        }
        require(components.user == nil && components.password == nil, "accepted credentials")
        require(!RedirectURIPolicy.forbiddenSchemes.contains(scheme), "accepted scheme \(scheme)")
        if scheme == "http" { require(PublicURL.isLoopbackHost(RedirectURIPolicy.bare(components.host ?? "")), "accepted remote http") }
    }
    require(RedirectURIPolicy.matches(requested: input, registered: [input]), "a URI does not match itself")
    let parts = input.split(separator: "\u{1}", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
    if parts.count == 2 {
        require(RedirectURIPolicy.matches(requested: parts[0], registered: [parts[1]])
                    == RedirectURIPolicy.matches(requested: parts[1], registered: [parts[0]]), "matching is not symmetric")
    }
    if let allowlist = try? ClientHostAllowlist(configValue: input, allowSchemes: true) {
        for host in allowlist.hosts { require(allowlist.permitsHost(host), "an allowlist refuses its own host \(host)") }
    }
}
