#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Splits a byte stream into newline-terminated lines without decoding it: decoding stdout as
/// text is ~75x slower for large lines (swift-stack-notes §1). Memory is bounded by `maxLine`.
struct LineSplitter {
    enum Overflow {
        /// Protocol stream: an over-long line is fatal.
        case fail
        /// Log stream: keep the first `maxLine` bytes, drop the rest of the line.
        case truncate
    }

    struct LineTooLong: Error {}

    let maxLine: Int
    let overflow: Overflow
    private var pending: [UInt8] = []
    private var discarding = false

    init(maxLine: Int, overflow: Overflow) {
        self.maxLine = maxLine
        self.overflow = overflow
    }

    /// Appends complete lines (without `\n` or a trailing `\r`) to `lines`. A line that lies
    /// wholly in `bytes` is copied once, into an array of exactly its size; only a line spread
    /// over several chunks goes through `pending`. The newline search is `memchr` and every copy
    /// goes through an `UnsafeRawBufferPointer` (a bulk copy): a flooding child's megabytes pass
    /// here, and byte-wise slices cost ~10x in debug builds.
    mutating func feed(_ bytes: UnsafeRawBufferPointer, into lines: inout [[UInt8]]) throws(LineTooLong) {
        guard let base = bytes.baseAddress else { return }
        var start = 0
        while start < bytes.count, let hit = memchr(base + start, 0x0A, bytes.count - start) {
            let newline = base.distance(to: UnsafeRawPointer(hit))
            let segment = UnsafeRawBufferPointer(rebasing: bytes[start..<newline])
            if pending.isEmpty, !discarding, segment.count <= maxLine {
                let length = segment.last == 0x0D ? segment.count - 1 : segment.count
                lines.append(Array(UnsafeRawBufferPointer(rebasing: segment[0..<length])))
            } else {
                try append(segment)
                lines.append(takeLine())
            }
            start = newline + 1
        }
        try append(UnsafeRawBufferPointer(rebasing: bytes[start...]))
    }

    /// The unterminated remainder at end of stream, if any.
    mutating func finish() -> [UInt8]? {
        pending.isEmpty && !discarding ? nil : takeLine()
    }

    private mutating func append(_ slice: UnsafeRawBufferPointer) throws(LineTooLong) {
        if discarding || slice.isEmpty { return }
        if pending.count + slice.count > maxLine {
            guard overflow == .truncate else { throw LineTooLong() }
            pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: slice[0..<(maxLine - pending.count)]))
            discarding = true
            return
        }
        pending.append(contentsOf: slice)
    }

    /// Hands `pending`'s buffer to the line and starts a fresh one: keeping the capacity would
    /// make the next append copy (the line shares the buffer) and pin a large buffer in a small line.
    private mutating func takeLine() -> [UInt8] {
        var line = pending
        pending = []
        if line.last == 0x0D { line.removeLast() }
        discarding = false
        return line
    }
}
