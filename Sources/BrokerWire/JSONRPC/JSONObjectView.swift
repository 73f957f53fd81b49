/// One object of a JSON text, its members located by a single scan: what a decoded dictionary
/// gives (a member by name, its type, a string's value), without building a tree or re-encoding
/// anything. The per-request paths read a handful of members and forward or splice the rest as
/// the client wrote it, which a Foundation round trip would reformat (and cost ~10x the time).
package struct JSONObjectView: Sendable {
    package struct Member: Sendable {
        /// The member name without its quotes, as written (escapes undecoded).
        let nameRange: Range<Int>
        let nameHasEscapes: Bool
        /// The value, whitespace excluded.
        package let value: Range<Int>
        /// `"name":value` as written, quotes included: what a splice copies.
        package var whole: Range<Int> { nameRange.lowerBound - 1..<value.upperBound }
    }

    package let bytes: [UInt8]
    package let range: Range<Int>
    package let members: [Member]

    /// The object at `range` of `bytes`; nil when the value there is not a valid object.
    package init?(_ bytes: [UInt8], _ range: Range<Int>) {
        guard range.lowerBound < bytes.count, bytes[range.lowerBound] == UInt8(ascii: "{") else { return nil }
        var found: [Member] = []
        let scanned: Bool = bytes.withUnsafeBufferPointer { buffer in
            var scanner = JSONScanner(buffer, at: range.lowerBound)
            do throws(JSONScanner.Failure) {
                try scanner.scanObject(depth: 0) { name, hasEscapes, value in
                    found.append(Member(nameRange: name, nameHasEscapes: hasEscapes, value: value))
                }
                return scanner.index == range.upperBound
            } catch {
                return false
            }
        }
        guard scanned else { return nil }
        self.bytes = bytes
        self.range = range
        members = found
    }

    /// The whole text as an object (whitespace around it allowed); nil when it is anything else.
    package init?(_ bytes: [UInt8]) {
        let range: Range<Int>? = bytes.withUnsafeBufferPointer { buffer in
            var scanner = JSONScanner(buffer)
            guard let value = try? scanner.scanValue() else { return nil }
            scanner.skipWhitespace()
            return scanner.atEnd ? value : nil
        }
        guard let range else { return nil }
        self.init(bytes, range)
    }

    package var isEmpty: Bool { members.isEmpty }

    /// The first member called `name` (escapes decoded before comparing).
    package func member(_ name: String) -> Member? {
        bytes.withUnsafeBufferPointer { buffer in
            members.first { JSONRPCMessage.keyEquals(buffer, $0.nameRange, $0.nameHasEscapes, name) }
        }
    }

    /// The value range of `name`, if present (any type, `null` included).
    package subscript(_ name: String) -> Range<Int>? { member(name)?.value }

    /// The decoded name of `member`.
    package func name(of member: Member) -> String {
        bytes.withUnsafeBufferPointer { buffer in JSONScanner.decodeString(buffer, member.nameRange) }
    }

    /// `name` when its value is an object.
    package func object(_ name: String) -> JSONObjectView? {
        self[name].flatMap { JSONObjectView(bytes, $0) }
    }

    /// `name` when its value is a string, decoded.
    package func string(_ name: String) -> String? {
        self[name].flatMap(string(at:))
    }

    /// The string at `range` of the same text, decoded; nil for any other value.
    package func string(at range: Range<Int>) -> String? {
        guard bytes[range.lowerBound] == UInt8(ascii: "\"") else { return nil }
        return bytes.withUnsafeBufferPointer { buffer in
            JSONScanner.decodeString(buffer, range.lowerBound + 1..<range.upperBound - 1)
        }
    }

    /// `name` when its value is `true` or `false`; nil when absent or of another type.
    package func bool(_ name: String) -> Bool? {
        guard let value = self[name] else { return nil }
        if bytes[value].elementsEqual("true".utf8) { return true }
        if bytes[value].elementsEqual("false".utf8) { return false }
        return nil
    }

    /// `name` when its value is a number that is exactly the integer `value`.
    package func number(_ name: String, equals value: Int) -> Bool {
        guard let range = self[name], let number = Double(String(decoding: bytes[range], as: UTF8.self)) else { return false }
        return number == Double(value)
    }

    /// The value of `name` as written.
    package func raw(_ name: String) -> [UInt8]? {
        self[name].map { Array(bytes[$0]) }
    }

    /// The elements of the array at `range` (nil when it is not an array).
    package func elements(at range: Range<Int>) -> [Range<Int>]? {
        guard bytes[range.lowerBound] == UInt8(ascii: "[") else { return nil }
        return bytes.withUnsafeBufferPointer { buffer in
            var scanner = JSONScanner(buffer, at: range.lowerBound)
            var elements: [Range<Int>] = []
            guard (try? scanner.scanArray(depth: 0) { elements.append($0) }) != nil else { return nil }
            return elements
        }
    }
}

/// Writes a JSON object member by member: copied members keep their bytes as written, new ones
/// are raw JSON values. The counterpart of `JSONObjectView` for rewriting an object (dropping,
/// replacing or adding a few members) without a Foundation round trip.
package struct JSONObjectWriter {
    package private(set) var bytes: [UInt8] = [UInt8(ascii: "{")]
    private var empty = true

    package init(reservingCapacity capacity: Int = 0) {
        bytes.reserveCapacity(capacity)
    }

    /// `member` of `view`, exactly as written there.
    package mutating func copy(_ member: JSONObjectView.Member, of view: JSONObjectView) {
        separate()
        bytes += view.bytes[member.whole]
    }

    /// `"name":value` with `value` raw JSON.
    package mutating func add(_ name: String, raw value: some Sequence<UInt8>) {
        separate()
        bytes += JSONRPCID.encodeString(name)
        bytes.append(UInt8(ascii: ":"))
        bytes += value
    }

    package var isEmpty: Bool { empty }

    /// The object, closed.
    package func finished() -> [UInt8] {
        bytes + [UInt8(ascii: "}")]
    }

    private mutating func separate() {
        if !empty { bytes.append(UInt8(ascii: ",")) }
        empty = false
    }
}
