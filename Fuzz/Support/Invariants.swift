// Shared by every fuzz target (scripts/fuzz.sh compiles this file into each): a broken
// invariant is a trap, which libFuzzer reports as a crash and saves the input for.

func require(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fail(message()) }
}

func fail(_ message: String) -> Never {
    fatalError("fuzz invariant: \(message)")
}

/// The input as text: invalid UTF-8 becomes U+FFFD, as `String(decoding:as:)` does everywhere
/// the broker turns bytes into a string.
func text(_ data: UnsafePointer<UInt8>, _ size: Int) -> String {
    String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
}
