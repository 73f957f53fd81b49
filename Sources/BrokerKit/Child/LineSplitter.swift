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

    /// Appends complete lines (without `\n` or a trailing `\r`) to `lines`.
    mutating func feed(_ bytes: UnsafeRawBufferPointer, into lines: inout [[UInt8]]) throws(LineTooLong) {
        var start = 0
        while start < bytes.count {
            guard let newline = bytes[start...].firstIndex(of: 0x0A) else {
                try append(bytes[start...])
                return
            }
            try append(bytes[start..<newline])
            lines.append(takeLine())
            start = newline + 1
        }
    }

    /// The unterminated remainder at end of stream, if any.
    mutating func finish() -> [UInt8]? {
        pending.isEmpty && !discarding ? nil : takeLine()
    }

    private mutating func append(_ slice: Slice<UnsafeRawBufferPointer>) throws(LineTooLong) {
        if discarding { return }
        if pending.count + slice.count > maxLine {
            guard overflow == .truncate else { throw LineTooLong() }
            pending.append(contentsOf: slice.prefix(maxLine - pending.count))
            discarding = true
            return
        }
        pending.append(contentsOf: slice)
    }

    private mutating func takeLine() -> [UInt8] {
        var line = pending
        if line.last == 0x0D { line.removeLast() }
        pending.removeAll(keepingCapacity: pending.capacity <= 64 * 1024)
        discarding = false
        return line
    }
}
