import Metrics
import Synchronization

/// The byte bound on what one call or stream holds for a reader that does not keep up. A child
/// may write far faster than an HTTP client reads (a flood of progress or log notifications):
/// without a bound those messages wait in the broker's memory. Once the bound is hit the stream
/// is over for good (`overflow` once, `drop` after): its owner ends the call or closes the
/// stream with a clear error, and nothing else of the session is touched.
///
/// One message always fits an empty buffer, so a single large line (bounded by the child's line
/// limit) is never what fails a call; the bound is on what piles up behind it.
struct BufferBound: Sendable, Equatable {
    enum Admission: Sendable, Equatable {
        case accept
        /// This message would exceed the bound: the stream ends now (reported once).
        case overflow
        /// The stream already overflowed: everything after is discarded.
        case drop
    }

    let limit: Int
    private(set) var held = 0
    private(set) var overflowed = false

    init(limit: Int) {
        self.limit = limit
    }

    /// A message of `size` bytes wants to wait for the reader.
    mutating func offer(_ size: Int) -> Admission {
        guard !overflowed else { return .drop }
        if held > 0, held + size > limit {
            overflowed = true
            return .overflow
        }
        held += size
        return .accept
    }

    /// The reader took a message of `size` bytes.
    mutating func taken(_ size: Int) {
        held = max(0, held - size)
    }
}

/// A `BufferBound` shared by the producer (the bridge, a hub) and the reader (an SSE writer) of
/// one stream, which run on different tasks. A lock rather than an actor: both sides touch it
/// once per message and must not suspend for it.
final class BufferBudget: Sendable {
    let limit: Int
    private let bound: Mutex<BufferBound>

    init(limit: Int) {
        self.limit = limit
        bound = Mutex(BufferBound(limit: limit))
    }

    func offer(_ size: Int) -> BufferBound.Admission {
        bound.withLock { $0.offer(size) }
    }

    func taken(_ size: Int) {
        bound.withLock { $0.taken(size) }
    }

    /// Bytes waiting for the reader (tests, diagnostics).
    var held: Int { bound.withLock { $0.held } }
}

extension BufferBound {
    /// Broker default for `FJMCP_MAX_BUFFERED_EVENT_BYTES`: a few MiB per call or stream, large
    /// next to any legitimate burst of progress, small next to the broker's memory.
    static let defaultLimit = 4 << 20

    /// The JSON-RPC error that ends a call whose reader fell behind by more than `limit` bytes.
    static func overflowError(rawID: [UInt8], limit: Int) -> [UInt8] {
        JSONRPCEnvelope.error(
            rawID: rawID, code: -32603,
            message: "the call was ended: the MCP server sent messages faster than the client read them "
                + "(more than \(limit) bytes were waiting)")
    }
}

/// Counts the streams ended by their bound, by kind: a rising count means clients (or a proxy)
/// that stop reading, or a child that floods.
enum BridgeMetrics {
    enum Stream: String {
        /// A legacy call's response stream.
        case call
        /// A 2026-07-28 call's buffer.
        case modernCall = "modern_call"
        /// A legacy session's GET stream.
        case serverStream = "server_stream"
        /// A `subscriptions/listen` stream.
        case listen
    }

    static func overflowed(_ stream: Stream) {
        Counter(label: "fjmcp_buffer_overflows_total", dimensions: [("stream", stream.rawValue)]).increment()
    }
}
