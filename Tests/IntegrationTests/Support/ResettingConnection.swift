import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A raw TCP client that sends one HTTP request and then resets the connection (SO_LINGER 0,
/// so `close` sends RST instead of FIN) at a chosen moment, as a client that crashes or loses
/// its network does. Reads poll without blocking a thread: the broker under test may run its
/// HTTP server on the same threads.
struct ResettingConnection {
    enum Moment: CaseIterable, Sendable {
        /// Right after the request is written, before the server can have answered anything.
        case rightAway
        /// While the broker waits for the answer within its JSON window (no response head yet).
        case inJSONWindow
        /// Once the SSE answer has started (its head and first keep-alive arrived).
        case duringSSE
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    private let fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            throw Failure(description: "connect: errno \(errno)")
        }
    }

    /// A POST of `body` to `/mcp` with `headers`.
    func post(host: String, headers: [(String, String)], body: String) throws {
        var text = "POST /mcp HTTP/1.1\r\nHost: \(host)\r\nContent-Length: \(body.utf8.count)\r\n"
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        text += "\r\n" + body
        let bytes = Array(text.utf8)
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard count > 0 else { throw Failure(description: "send: errno \(errno)") }
            sent += count
        }
    }

    /// Waits until the server sent anything (the response head), or `timeout`; what arrived.
    func awaitResponseStart(timeout: Duration) async -> String {
        await receive(until: "keep-alive", timeout: timeout)
    }

    /// Reads until what arrived contains `marker`, the server closes, or `timeout` passes; what
    /// arrived. Only the last 64 KiB are searched and returned, so a large stream can be drained.
    func receive(until marker: String, timeout: Duration) async -> String {
        let deadline = ContinuousClock.now + timeout
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        while ContinuousClock.now < deadline {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if count > 0 {
                received += buffer[0..<count]
                if received.count > 128 << 10 { received.removeFirst(received.count - (64 << 10)) }
                if String(decoding: received, as: UTF8.self).contains(marker) { break }
                continue
            } else if count == 0 {
                break
            }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return String(decoding: received, as: UTF8.self)
    }

    /// Ends the connection with RST.
    func reset() {
        var option = linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &option, socklen_t(MemoryLayout<linger>.size))
        close(fd)
    }

    /// Sends the request and resets at `moment`; `jsonWindow` is the broker's.
    static func postAndReset(port: Int, host: String, headers: [(String, String)], body: String, at moment: Moment,
                             jsonWindow: Duration) async throws {
        let connection = try ResettingConnection(port: port)
        defer { connection.reset() }
        try connection.post(host: host, headers: headers, body: body)
        switch moment {
        case .rightAway:
            break
        case .inJSONWindow:
            try await Task.sleep(for: jsonWindow / 2)
        case .duringSSE:
            let start = await connection.awaitResponseStart(timeout: jsonWindow * 20)
            guard start.contains("text/event-stream") else { throw Failure(description: "no SSE answer began: \(start.prefix(200))") }
        }
    }
}
