import Foundation

/// One line of the audit trail: who did what through the broker, when, how long it took and
/// how it ended. Identifiers and outcomes only: never a tool's arguments or result, never a
/// token, code or cookie.
public struct AuditRecord: Sendable, Equatable, Codable {
    public enum Event: String, Sendable, Codable, CaseIterable {
        /// A `tools/call` on either era (outcome ok, error, policy_refused or cancelled).
        case toolCall = "tool_call"
        /// A user signed in through Forgejo and the client got a code, or signed in to the
        /// account page (no client).
        case login
        /// The user approved or denied a client on the consent page (who is not known yet).
        case consent
        /// A grant was revoked (`/oauth/revoke`, refresh token replay, dead Forgejo grant), an
        /// operator revoked a user, or the sign-in policy refused a user at a Forgejo refresh.
        case revocation
        /// Forgejo refused to refresh the user's token for good: their sessions end.
        case refreshFailure = "refresh_failure"
    }

    public var time: Date
    public var event: Event
    /// The Forgejo login; nil when not known (consent happens before the Forgejo sign-in).
    public var user: String?
    public var client: String?
    public var tool: String?
    public var durationMs: Int?
    /// `ok`, `error`, `policy_refused`, `cancelled`, `approved`, `denied`, … per event.
    public var outcome: String
    /// The JSON-RPC id of a tool call, as the client wrote it.
    public var requestID: String?
    /// A short reason code (the refusing setting, the revocation path), never free text from clients.
    public var detail: String?

    public init(time: Date = Date(), event: Event, user: String?, client: String?, tool: String? = nil, durationMs: Int? = nil,
                outcome: String, requestID: String? = nil, detail: String? = nil) {
        self.time = time
        self.event = event
        self.user = user
        self.client = client
        self.tool = tool
        self.durationMs = durationMs
        self.outcome = outcome
        self.requestID = requestID
        self.detail = detail
    }

    enum CodingKeys: String, CodingKey {
        case time, event, user, client, tool, outcome, detail
        case durationMs = "duration_ms"
        case requestID = "request_id"
    }

    /// Client-chosen strings (client ids, tool names, request ids) and the rest of the free
    /// strings are cut to this many UTF-8 bytes, so one client cannot make records arbitrarily
    /// large. Bytes, not Characters: one grapheme cluster can hold any number of combining
    /// scalars, so a Character count bounds nothing.
    static let maxFieldBytes = 256

    /// The record with every client-chosen field bounded.
    var bounded: AuditRecord {
        var copy = self
        copy.user = user.map(Self.bounded)
        copy.client = client.map(Self.bounded)
        copy.tool = tool.map(Self.bounded)
        copy.requestID = requestID.map(Self.bounded)
        copy.detail = detail.map(Self.bounded)
        return copy
    }

    /// The longest prefix of `text` within ``maxFieldBytes`` UTF-8 bytes, cut between Unicode
    /// scalars (a cut inside a grapheme cluster is fine: the record only has to stay valid UTF-8).
    static func bounded(_ text: String) -> String {
        guard text.utf8.count > maxFieldBytes else { return text }
        var kept = String.UnicodeScalarView()
        var bytes = 0
        for scalar in text.unicodeScalars {
            bytes += UTF8.width(scalar)
            guard bytes <= maxFieldBytes else { break }
            kept.append(scalar)
        }
        return String(kept)
    }

    /// One JSON line (keys sorted, time in UTC with milliseconds).
    public var jsonLine: [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)))
        }
        return ((try? encoder.encode(self)).map(Array.init) ?? []) + [UInt8(ascii: "\n")]
    }
}

extension AuditRecord {
    /// The outcome of a tool call from its final JSON-RPC answer: a JSON-RPC error, or a
    /// result with `isError: true`, is `error`. Read with the byte scanner (no JSON parse).
    static func toolOutcome(of answer: [UInt8]) -> String {
        guard let message = try? JSONRPCMessage(answer) else { return "error" }
        if message.kind == .errorResponse { return "error" }
        // Nearly every answer has no `"isError"` anywhere, which memchr tells at once; only
        // then is the result member read for it. A member name spelled with escapes
        // (`"is\u0045rror"`) is not looked for, as the upstream-doubt check does not either.
        guard ChildAnswer.hasTrueIsError(answer) else { return "ok" }
        let failed = answer.withUnsafeBufferPointer { buffer in
            guard let start = buffer.firstIndex(where: { $0 > 0x20 }),
                  let result = JSONRPCMessage.member("result", inObjectAt: start..<buffer.count, of: buffer),
                  let flag = JSONRPCMessage.member("isError", inObjectAt: result, of: buffer)
            else { return false }
            return buffer[flag].elementsEqual("true".utf8)
        }
        return failed ? "error" : "ok"
    }
}
