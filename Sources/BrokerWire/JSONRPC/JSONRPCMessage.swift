/// One JSON-RPC message, classified by a single byte-level scan. The original bytes are kept and
/// forwarded as they are; only the id (and, for progress, the token) is ever spliced in place.
public struct JSONRPCMessage: Sendable {
    public enum Kind: Sendable, Equatable {
        case request
        case notification
        case response
        case errorResponse
        /// A top-level array (2025-03-26 batching); see `batchElements()`.
        case batch
    }

    public let bytes: [UInt8]
    public let kind: Kind
    /// Nil for notifications and batches.
    public let id: JSONRPCID?
    /// Where the id value sits in `bytes`.
    public let idRange: Range<Int>?
    public let method: String?
    package let paramsRange: Range<Int>?
    private let elementRanges: [Range<Int>]
    private let memberNames: MemberNames

    /// How strictly member names are checked.
    public enum MemberNames: Sendable {
        /// For everything a client sends (the `/mcp` POST body): no object at any depth may repeat a member name,
        /// exactly or as a case variant, and no envelope or `params` member the broker reads
        /// may appear as a case variant alone (`ID`, `Method`, `Params`, `Name`…): a child
        /// parsing with other rules (last duplicate wins, Go's case-insensitive field match)
        /// would otherwise act on a message the broker understood differently. -32600.
        case strict
        /// For a child's own output, relayed as it is (a tool result may legitimately carry
        /// data with such names, and refusing it would only hang the call).
        case lenient
    }

    public init(_ bytes: [UInt8], memberNames: MemberNames = .lenient) throws(JSONRPCParseError) {
        let scan = try bytes.withUnsafeBufferPointer { buffer throws(JSONRPCParseError) in
            try Self.scan(buffer, strict: memberNames == .strict)
        }
        self.bytes = bytes
        kind = scan.kind
        id = scan.id
        idRange = scan.idRange
        method = scan.method
        paramsRange = scan.paramsRange
        elementRanges = scan.elementRanges
        self.memberNames = memberNames
    }

    public var isRequest: Bool { kind == .request }
    public var isResponse: Bool { kind == .response || kind == .errorResponse }

    /// The id exactly as written, so it can be restored byte for byte.
    public var rawID: [UInt8]? {
        idRange.map { Array(bytes[$0]) }
    }

    /// The same message with its id value replaced by `rawID`, the rest untouched.
    public func replacingID(withRaw rawID: [UInt8]) -> [UInt8] {
        guard let idRange else { return bytes }
        return replacing(idRange, with: rawID)
    }

    public func replacingID(with id: JSONRPCID) -> [UInt8] {
        replacingID(withRaw: id.jsonBytes)
    }

    package func replacing(_ range: Range<Int>, with replacement: [UInt8]) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count - range.count + replacement.count)
        output += bytes[..<range.lowerBound]
        output += replacement
        output += bytes[range.upperBound...]
        return output
    }

    /// `params._meta.progressToken`: value and location (for splicing a broker-side token in).
    public var progressToken: (id: JSONRPCID, range: Range<Int>)? {
        member(path: ["_meta", "progressToken"])
    }

    /// `params.progressToken` of a `notifications/progress`.
    public var notifiedProgressToken: (id: JSONRPCID, range: Range<Int>)? {
        member(path: ["progressToken"])
    }

    /// `params.requestId` of a `notifications/cancelled`.
    public var cancelledRequestID: (id: JSONRPCID, range: Range<Int>)? {
        member(path: ["requestId"])
    }

    /// `params.<key>` when it is a string, decoded (a log notification's `level`, a resource
    /// update's `uri`): read with the byte scanner, so relaying a notification needs no parse.
    public func paramsString(_ key: String) -> String? {
        guard let paramsRange else { return nil }
        return bytes.withUnsafeBufferPointer { buffer in
            guard let range = Self.member(key, inObjectAt: paramsRange, of: buffer), buffer[range.lowerBound] == UInt8(ascii: "\"")
            else { return nil }
            return JSONScanner.decodeString(buffer, range.lowerBound + 1..<range.upperBound - 1)
        }
    }

    /// The elements of a batch, each parsed on its own (a bad element fails only itself).
    public func batchElements() -> [Result<JSONRPCMessage, JSONRPCParseError>] {
        elementRanges.map { range in
            Result { () throws(JSONRPCParseError) in try JSONRPCMessage(Array(bytes[range]), memberNames: memberNames) }
        }
    }

    private func member(path: [String]) -> (id: JSONRPCID, range: Range<Int>)? {
        guard var range = paramsRange else { return nil }
        return bytes.withUnsafeBufferPointer { buffer in
            for key in path {
                guard let next = Self.member(key, inObjectAt: range, of: buffer) else { return nil }
                range = next
            }
            return JSONRPCID.parse(buffer, range).map { ($0, range) }
        }
    }

    /// The value range of `key` in the (validated) object at `range`, if it is an object.
    package static func member(_ key: String, inObjectAt range: Range<Int>, of buffer: UnsafeBufferPointer<UInt8>) -> Range<Int>? {
        guard buffer[range.lowerBound] == UInt8(ascii: "{") else { return nil }
        var scanner = JSONScanner(buffer, at: range.lowerBound)
        var found: Range<Int>?
        try? scanner.scanObject(depth: 0) { keyRange, hasEscapes, valueRange in
            if found == nil, Self.keyEquals(buffer, keyRange, hasEscapes, key) { found = valueRange }
        }
        return found
    }

    /// Refuses a member name that folds to one of `names` without being exactly it. Runs for
    /// every envelope and `params` member of every client message: a plain ASCII name (nearly
    /// all) is folded and compared in place against the names' folded forms, allocating nothing.
    private static func refuseCaseVariant(
        _ buffer: UnsafeBufferPointer<UInt8>, _ keyRange: Range<Int>, _ hasEscapes: Bool, of names: FoldedNames
    ) throws(JSONScanner.Failure) {
        let plain = !hasEscapes && JSONScanner.isASCII(buffer, keyRange)
        let folded = plain ? [] : JSONScanner.foldedName(buffer, keyRange, hasEscapes)
        for (name, target) in zip(names.names, names.folded) {
            let matches = plain
                ? target.count == keyRange.count && zip(buffer[keyRange], target).allSatisfy { JSONScanner.foldASCII($0) == $1 }
                : folded == target
            if matches, !keyEquals(buffer, keyRange, hasEscapes, name) {
                throw .ambiguousMember("member name is a case variant of \(name)")
            }
        }
    }

    /// Names the broker reads, with their folded forms computed once.
    struct FoldedNames: Sendable {
        let names: [String]
        let folded: [[UInt8]]

        init(_ names: [String]) {
            self.names = names
            folded = names.map { Array($0.lowercased().utf8) }
        }
    }

    /// The same for the members of `params` and of `params._meta`.
    private static func refuseCaseVariants(_ buffer: UnsafeBufferPointer<UInt8>, inObjectAt range: Range<Int>) throws(JSONScanner.Failure) {
        guard buffer[range.lowerBound] == UInt8(ascii: "{") else { return }
        var scanner = JSONScanner(buffer, at: range.lowerBound)
        var meta: Range<Int>?
        try scanner.scanObject(depth: 0) { keyRange, hasEscapes, valueRange throws(JSONScanner.Failure) in
            try refuseCaseVariant(buffer, keyRange, hasEscapes, of: foldedReadParamsNames)
            if keyEquals(buffer, keyRange, hasEscapes, "_meta") { meta = valueRange }
        }
        if let meta { try refuseCaseVariants(buffer, inObjectAt: meta) }
    }

    static func keyEquals(_ buffer: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, _ hasEscapes: Bool, _ key: String)
        -> Bool
    {
        if hasEscapes { return JSONScanner.decodeString(buffer, range) == key }
        return range.count == key.utf8.count && zip(buffer[range], key.utf8).allSatisfy { $0 == $1 }
    }
}

extension JSONRPCMessage {
    struct Scan {
        var kind: Kind = .notification
        var id: JSONRPCID?
        var idRange: Range<Int>?
        var method: String?
        var paramsRange: Range<Int>?
        var elementRanges: [Range<Int>] = []
    }

    static let envelopeNames = ["jsonrpc", "id", "method", "params", "result", "error"]
    /// The `params` members the broker (or its tool policy) reads: a lone case variant of one of
    /// them would be invisible to the broker yet matched by a Go child.
    static let readParamsNames = ["name", "arguments", "_meta", "progressToken", "requestId", "uri", "cursor", "protocolVersion"]
    static let foldedEnvelopeNames = FoldedNames(envelopeNames)
    static let foldedReadParamsNames = FoldedNames(readParamsNames)

    /// Where each envelope member's value is (the first of each name, as `envelopeNames` orders them).
    struct EnvelopeMembers {
        private var ranges = InlineArray<6, Range<Int>?>(repeating: nil)

        subscript(_ name: Name) -> Range<Int>? { ranges[name.rawValue] }

        enum Name: Int, CaseIterable {
            case jsonrpc, id, method, params, result, error
        }

        /// Keeps `value` for the envelope name `key` matches, unless one was kept already.
        mutating func note(_ buffer: UnsafeBufferPointer<UInt8>, _ key: Range<Int>, _ hasEscapes: Bool, _ value: Range<Int>) {
            for name in Name.allCases where ranges[name.rawValue] == nil
                && keyEquals(buffer, key, hasEscapes, envelopeNames[name.rawValue])
            {
                ranges[name.rawValue] = value
                return
            }
        }
    }

    static func scan(_ buffer: UnsafeBufferPointer<UInt8>, strict: Bool) throws(JSONRPCParseError) -> Scan {
        var scanner = JSONScanner(buffer, checksMemberNames: strict)
        var members = EnvelopeMembers()
        var result = Scan()
        do throws(JSONScanner.Failure) {
            scanner.skipWhitespace()
            switch scanner.current {
            case UInt8(ascii: "{"):
                try scanner.scanObject(depth: 0) { keyRange, hasEscapes, valueRange throws(JSONScanner.Failure) in
                    if strict { try refuseCaseVariant(buffer, keyRange, hasEscapes, of: foldedEnvelopeNames) }
                    members.note(buffer, keyRange, hasEscapes, valueRange)
                }
                if strict, let params = members[.params] { try refuseCaseVariants(buffer, inObjectAt: params) }
            case UInt8(ascii: "["):
                // Each element is checked when it is parsed on its own, so one bad element fails only itself.
                var elements = JSONScanner(buffer, at: scanner.index)
                result.kind = .batch
                try elements.scanArray(depth: 0) { result.elementRanges.append($0) }
                scanner.index = elements.index
            default:
                _ = try scanner.scanValue()
            }
            scanner.skipWhitespace()
            guard scanner.atEnd else { throw JSONScanner.Failure.malformed("trailing bytes at offset \(scanner.index)") }
        } catch {
            switch error {
            case .malformed(let detail): throw .parseError(detail)
            case .ambiguousMember(let detail): throw .invalidRequest(detail)
            }
        }
        if result.kind == .batch {
            guard !result.elementRanges.isEmpty else { throw .invalidRequest("empty batch") }
            return result
        }
        guard buffer.first(where: { $0 > 0x20 }) == UInt8(ascii: "{") else {
            throw .invalidRequest("not an object")
        }
        guard let version = members[.jsonrpc], buffer[version.lowerBound] == UInt8(ascii: "\""),
            JSONScanner.decodeString(buffer, version.lowerBound + 1..<version.upperBound - 1) == "2.0"
        else { throw .invalidRequest("jsonrpc must be \"2.0\"") }
        if let idRange = members[.id] {
            guard let id = JSONRPCID.parse(buffer, idRange) else { throw .invalidRequest("id must be a string or number") }
            result.id = id
            result.idRange = idRange
        }
        if let params = members[.params] {
            guard [UInt8(ascii: "{"), UInt8(ascii: "[")].contains(buffer[params.lowerBound]) else {
                throw .invalidRequest("params must be an object or array")
            }
            result.paramsRange = params
        }
        if let methodRange = members[.method] {
            guard buffer[methodRange.lowerBound] == UInt8(ascii: "\"") else {
                throw .invalidRequest("method must be a string")
            }
            result.method = JSONScanner.decodeString(buffer, methodRange.lowerBound + 1..<methodRange.upperBound - 1)
            if result.id == .null { throw .invalidRequest("a request id must not be null") }
            result.kind = result.id == nil ? .notification : .request
            return result
        }
        guard result.id != nil else { throw .invalidRequest("a response needs an id") }
        switch (members[.result], members[.error]) {
        case (.some, nil): result.kind = .response
        case (nil, .some): result.kind = .errorResponse
        default: throw .invalidRequest("a response needs exactly one of result and error")
        }
        return result
    }
}
