import Foundation

/// A directly spawned MCP stdio child: newline-delimited JSON-RPC on its stdin/stdout, answers
/// matched to requests by numeric id on a dedicated reader thread (the physical limit the broker
/// is compared with).
final class StdioChild: @unchecked Sendable {
    let process = Process()
    private let input: FileHandle
    private let output: FileHandle
    private let lock = NSLock()
    private let writeLock = NSLock()
    private var waiting: [Int: CheckedContinuation<[UInt8]?, Never>] = [:]
    private var nextID = 0
    private var closed = false

    init(command: String, environment: [String: String]? = nil) throws {
        let stdinPipe = Pipe()
        let stdoutPipe = Pipe()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "exec " + command]
        if let environment { process.environment = environment }
        process.standardInput = stdinPipe
        process.standardOutput = stdoutPipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        input = stdinPipe.fileHandleForWriting
        output = stdoutPipe.fileHandleForReading
        let thread = Thread { [self] in readLoop() }
        thread.stackSize = 1 << 20
        thread.start()
    }

    /// Sends one request (`params` is raw JSON) and returns the raw answer line, nil if the child ended.
    func request(method: String, params: String) async -> [UInt8]? {
        await withCheckedContinuation { (continuation: CheckedContinuation<[UInt8]?, Never>) in
            lock.lock()
            if closed {
                lock.unlock()
                continuation.resume(returning: nil)
                return
            }
            nextID += 1
            let id = nextID
            waiting[id] = continuation
            lock.unlock()
            send(#"{"jsonrpc":"2.0","id":\#(id),"method":"\#(method)","params":\#(params)}"#)
        }
    }

    func notify(method: String) {
        send(#"{"jsonrpc":"2.0","method":"\#(method)"}"#)
    }

    private func send(_ line: String) {
        var bytes = Array(line.utf8)
        bytes.append(0x0A)
        writeLock.lock()
        defer { writeLock.unlock() }
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(input.fileDescriptor, raw.baseAddress! + offset, raw.count - offset)
                if n <= 0 { if errno == EINTR { continue } else { return } }
                offset += n
            }
        }
    }

    private func readLoop() {
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        var pending: [UInt8] = []
        let fd = output.fileDescriptor
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, $0.count) }
            if n < 0, errno == EINTR { continue }
            if n <= 0 { break }
            var start = 0
            for index in 0..<n where buffer[index] == 0x0A {
                if pending.isEmpty {
                    deliver(Array(buffer[start..<index]))
                } else {
                    pending.append(contentsOf: buffer[start..<index])
                    deliver(pending)
                    pending.removeAll(keepingCapacity: true)
                }
                start = index + 1
            }
            if start < n { pending.append(contentsOf: buffer[start..<n]) }
        }
        lock.lock()
        closed = true
        let all = waiting
        waiting.removeAll()
        lock.unlock()
        for continuation in all.values { continuation.resume(returning: nil) }
    }

    private func deliver(_ line: [UInt8]) {
        guard let id = Self.responseID(line) else { return }
        lock.lock()
        let continuation = waiting.removeValue(forKey: id)
        lock.unlock()
        continuation?.resume(returning: line)
    }

    /// The numeric id of a response line (`"id":N` before any `"method"`), without a JSON parse.
    static func responseID(_ line: [UInt8]) -> Int? {
        let key: [UInt8] = Array(#""id":"#.utf8)
        guard line.count > key.count else { return nil }
        var i = 0
        while i + key.count <= line.count {
            if line[i] == key[0], Array(line[i..<(i + key.count)]) == key {
                var j = i + key.count
                while j < line.count, line[j] == 0x20 { j += 1 }
                var value = 0
                var digits = 0
                while j < line.count, line[j] >= 0x30, line[j] <= 0x39 {
                    value = value * 10 + Int(line[j] - 0x30)
                    j += 1
                    digits += 1
                }
                return digits > 0 ? value : nil
            }
            i += 1
        }
        return nil
    }

    func close() {
        try? input.close()
        process.waitUntilExit()
    }

    func terminate() {
        if process.isRunning { process.terminate() }
        try? input.close()
        process.waitUntilExit()
    }
}

enum Payload {
    static let initializeParams = #"{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"fjmcp-bench","version":"0"}}"#
    static let echoParams = #"{"name":"echo","arguments":{"text":"hello from fjmcp-bench"}}"#
    static let listParams = "{}"

    static func method(_ name: String) -> (method: String, params: String) {
        name == "list" ? ("tools/list", listParams) : ("tools/call", echoParams)
    }

    static func isResult(_ bytes: some Collection<UInt8>) -> Bool {
        let needle = Array(#""result""#.utf8)
        let hay = Array(bytes)
        guard hay.count >= needle.count else { return false }
        for i in 0...(hay.count - needle.count) where hay[i] == needle[0] && Array(hay[i..<(i + needle.count)]) == needle {
            return true
        }
        return false
    }
}
