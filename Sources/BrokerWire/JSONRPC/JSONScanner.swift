/// A validating, non-allocating JSON scanner over raw bytes. The bridge only needs to know
/// where a few members are; building a tree would cost time and lose byte fidelity.
///
/// With `checksMemberNames` it also refuses any object, at any depth, with two member names
/// that are equal after decoding escapes and folding case the way Go's `encoding/json` matches
/// them (see ``foldedName(_:_:_:)``): parsers disagree on which duplicate wins (the broker reads
/// the first, Go and Python the last, Go also maps `ID` to `id`), so such a message could mean
/// one thing to the broker and another to the child.
struct JSONScanner {
    enum Failure: Error {
        case malformed(String)
        /// Valid JSON, but an object repeats a member name (exactly or as a case variant).
        case ambiguousMember(String)
    }

    static let maxDepth = 256

    let bytes: UnsafeBufferPointer<UInt8>
    var index: Int
    let checksMemberNames: Bool

    init(_ bytes: UnsafeBufferPointer<UInt8>, at index: Int = 0, checksMemberNames: Bool = false) {
        self.bytes = bytes
        self.index = index
        self.checksMemberNames = checksMemberNames
    }

    var atEnd: Bool { index >= bytes.count }

    var current: UInt8? { index < bytes.count ? bytes[index] : nil }

    mutating func skipWhitespace() {
        while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
    }

    /// Validates one value and returns its byte range (whitespace excluded).
    mutating func scanValue(depth: Int = 0) throws(Failure) -> Range<Int> {
        skipWhitespace()
        let start = index
        guard let byte = current else { throw .malformed("unexpected end of input") }
        switch byte {
        case UInt8(ascii: "{"):
            try scanObject(depth: depth) { _, _, _ in }
        case UInt8(ascii: "["):
            try scanArray(depth: depth) { _ in }
        case UInt8(ascii: "\""):
            _ = try scanString()
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            try scanNumber()
        case UInt8(ascii: "t"): try scanLiteral("true")
        case UInt8(ascii: "f"): try scanLiteral("false")
        case UInt8(ascii: "n"): try scanLiteral("null")
        default:
            throw .malformed("unexpected byte at offset \(index)")
        }
        return start..<index
    }

    /// Calls `member(keyRange, keyHasEscapes, valueRange)` for each member, in order.
    /// `keyRange` excludes the quotes.
    mutating func scanObject(
        depth: Int, _ member: (Range<Int>, Bool, Range<Int>) throws(Failure) -> Void
    ) throws(Failure) {
        guard depth < Self.maxDepth else { throw .malformed("nesting too deep") }
        index += 1
        skipWhitespace()
        if current == UInt8(ascii: "}") {
            index += 1
            return
        }
        // Only strict scans (client messages) keep names; a child's output is not checked.
        var names = checksMemberNames ? SeenNames() : nil
        while true {
            skipWhitespace()
            guard current == UInt8(ascii: "\"") else { throw .malformed("expected a member name at offset \(index)") }
            let (keyRange, keyHasEscapes) = try scanString()
            if checksMemberNames {
                let name = FoldedName(bytes, keyRange.lowerBound + 1..<keyRange.upperBound - 1, hasEscapes: keyHasEscapes)
                guard names?.insert(name) != false else {
                    throw .ambiguousMember("member name repeated (or a case variant) at offset \(keyRange.lowerBound)")
                }
            }
            skipWhitespace()
            guard current == UInt8(ascii: ":") else { throw .malformed("expected ':' at offset \(index)") }
            index += 1
            let value = try scanValue(depth: depth + 1)
            try member(keyRange.lowerBound + 1..<keyRange.upperBound - 1, keyHasEscapes, value)
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "}"):
                index += 1
                return
            default: throw .malformed("expected ',' or '}' at offset \(index)")
            }
        }
    }

    mutating func scanArray(depth: Int, _ element: (Range<Int>) throws(Failure) -> Void) throws(Failure) {
        guard depth < Self.maxDepth else { throw .malformed("nesting too deep") }
        index += 1
        skipWhitespace()
        if current == UInt8(ascii: "]") {
            index += 1
            return
        }
        while true {
            try element(try scanValue(depth: depth + 1))
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "]"):
                index += 1
                return
            default: throw .malformed("expected ',' or ']' at offset \(index)")
            }
        }
    }

    /// Returns the range including the quotes, and whether it contains escapes.
    mutating func scanString() throws(Failure) -> (Range<Int>, Bool) {
        let start = index
        index += 1
        var hasEscapes = false
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                return (start..<index, hasEscapes)
            case UInt8(ascii: "\\"):
                hasEscapes = true
                index += 1
                guard let escaped = current else { break }
                switch escaped {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                    UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    index += 1
                case UInt8(ascii: "u"):
                    guard index + 4 < bytes.count, (1...4).allSatisfy({ Self.hexValue(bytes[index + $0]) != nil }) else {
                        throw .malformed("bad \\u escape at offset \(index)")
                    }
                    index += 5
                default:
                    throw .malformed("bad escape at offset \(index)")
                }
            case 0..<0x20:
                throw .malformed("control character in string at offset \(index)")
            default:
                index += 1
            }
        }
        throw .malformed("unterminated string")
    }

    mutating func scanNumber() throws(Failure) {
        if current == UInt8(ascii: "-") { index += 1 }
        guard let first = current, Self.isDigit(first) else { throw .malformed("bad number at offset \(index)") }
        index += 1
        if first != UInt8(ascii: "0") { skipDigits() }
        if current == UInt8(ascii: ".") {
            index += 1
            guard let digit = current, Self.isDigit(digit) else { throw .malformed("bad fraction at offset \(index)") }
            skipDigits()
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            index += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
            guard let digit = current, Self.isDigit(digit) else { throw .malformed("bad exponent at offset \(index)") }
            skipDigits()
        }
    }

    private mutating func skipDigits() {
        while let byte = current, Self.isDigit(byte) { index += 1 }
    }

    private mutating func scanLiteral(_ literal: StaticString) throws(Failure) {
        let count = literal.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw .malformed("bad literal at offset \(index)") }
        for offset in 0..<count where bytes[index + offset] != literal.utf8Start[offset] {
            throw .malformed("bad literal at offset \(index)")
        }
        index += count
    }

    /// A member name as Go's `encoding/json` compares struct fields: escapes decoded, then case
    /// folded. ASCII names (the common case) are folded byte by byte; others through Unicode
    /// lowercasing plus the two non-ASCII letters whose simple case folding reaches ASCII
    /// (U+017F LONG S folds to `s`; U+212A KELVIN SIGN already lowercases to `k`).
    static func foldedName(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, _ hasEscapes: Bool) -> [UInt8] {
        if !hasEscapes, isASCII(bytes, range) { return range.map { foldASCII(bytes[$0]) } }
        let folded = decodeString(bytes, range).lowercased().unicodeScalars.map { $0 == "\u{017F}" ? "s" : $0 }
        return Array(String(String.UnicodeScalarView(folded)).utf8)
    }

    static func foldASCII(_ byte: UInt8) -> UInt8 {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
    }

    static func isASCII(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Bool {
        var index = range.lowerBound
        while index < range.upperBound {
            if bytes[index] >= 0x80 { return false }
            index += 1
        }
        return true
    }

    static func isDigit(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }

    static func hexValue(_ byte: UInt8) -> UInt32? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt32(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt32(byte - UInt8(ascii: "A") + 10)
        default: nil
        }
    }

    /// Decodes the content of an already validated string (range excludes the quotes).
    static func decodeString(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> String {
        // Method names, ids and versions rarely hold escapes: those are taken as they are.
        guard bytes[range].contains(UInt8(ascii: "\\")) else {
            return String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self)
        }
        var output: [UInt8] = []
        output.reserveCapacity(range.count)
        var index = range.lowerBound
        func hex4(at position: Int) -> UInt32 {
            (0..<4).reduce(0) { value, offset in value << 4 | (hexValue(bytes[position + offset]) ?? 0) }
        }
        while index < range.upperBound {
            let byte = bytes[index]
            guard byte == UInt8(ascii: "\\") else {
                output.append(byte)
                index += 1
                continue
            }
            let escaped = bytes[index + 1]
            index += 2
            switch escaped {
            case UInt8(ascii: "b"): output.append(0x08)
            case UInt8(ascii: "f"): output.append(0x0C)
            case UInt8(ascii: "n"): output.append(0x0A)
            case UInt8(ascii: "r"): output.append(0x0D)
            case UInt8(ascii: "t"): output.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = hex4(at: index)
                index += 4
                if (0xD800..<0xDC00).contains(scalar), index + 6 <= range.upperBound,
                    bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u")
                {
                    let low = hex4(at: index + 2)
                    if (0xDC00..<0xE000).contains(low) {
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        index += 6
                    }
                }
                output.append(contentsOf: Array(String(Character(Unicode.Scalar(scalar) ?? "\u{FFFD}")).utf8))
            default: output.append(escaped)
            }
        }
        return String(decoding: output, as: UTF8.self)
    }
}

/// The folded member names seen in one object. Nearly every object a client sends has a handful
/// of members: those are compared one by one in an inline buffer, allocating nothing (a `Set`
/// allocated its storage for every object of every message); past `inlineCapacity` names the
/// set takes over, so a client cannot make the check quadratic.
private struct SeenNames {
    private static let inlineCapacity = 8
    private var inline = InlineArray<8, FoldedName?>(repeating: nil)
    private var count = 0
    private var overflow: Set<FoldedName> = []

    /// False when `name` was seen before in this object.
    mutating func insert(_ name: FoldedName) -> Bool {
        if count < Self.inlineCapacity {
            for slot in 0..<count where inline[slot] == name { return false }
            inline[count] = name
            count += 1
            return true
        }
        if overflow.isEmpty {
            for slot in 0..<count { if let seen = inline[slot] { overflow.insert(seen) } }
        }
        return overflow.insert(name).inserted
    }
}

/// A member name in its folded form (``JSONScanner/foldedName(_:_:_:)``) for the duplicate
/// check. The common case, a plain ASCII name, is folded in place while hashing and comparing,
/// so checking a message allocates nothing per member; only names with escapes or non-ASCII
/// bytes are decoded. Hashing uses Swift's per-process random seed, so a client cannot craft
/// colliding names to make the check quadratic.
private struct FoldedName: Hashable {
    private let bytes: UnsafeBufferPointer<UInt8>
    private let range: Range<Int>
    /// The folded bytes when the name could not be folded in place.
    private let decoded: [UInt8]?

    init(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, hasEscapes: Bool) {
        self.bytes = bytes
        self.range = range
        decoded = !hasEscapes && JSONScanner.isASCII(bytes, range) ? nil : JSONScanner.foldedName(bytes, range, hasEscapes)
    }

    private var count: Int { decoded?.count ?? range.count }

    private func byte(_ offset: Int) -> UInt8 {
        if let decoded { return decoded[offset] }
        return JSONScanner.foldASCII(bytes[range.lowerBound + offset])
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(count)
        for offset in 0..<count { hasher.combine(byte(offset)) }
    }

    static func == (lhs: FoldedName, rhs: FoldedName) -> Bool {
        guard lhs.count == rhs.count else { return false }
        for offset in 0..<lhs.count where lhs.byte(offset) != rhs.byte(offset) { return false }
        return true
    }
}
