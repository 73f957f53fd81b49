// libFuzzer target: address and URL parsing behind redirect URI and public URL checks
// (IPAddress, IPRange, PublicURL). Invariants: an address's text form parses back to the same
// address; a range contains its own network address; a parsed public URL's origin + path
// parses back to the same URL.
@testable import BrokerWire

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRedirectURI(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = text(data, size)
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
