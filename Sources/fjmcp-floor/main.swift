import Hummingbird
import Logging

/// The floor for `make bench` (issue 19): the same HTTP stack as the broker (Hummingbird, the
/// same build flags, the same default server configuration) answering `POST /mcp` with a fixed
/// JSON-RPC result after reading the request body, and nothing else — no middleware, no
/// authentication, no child. What the broker costs above this server, in latency and in CPU per
/// request, is its own work.
///
///     fjmcp-floor [PORT]      (127.0.0.1 only; default 18490)

let port = CommandLine.arguments.dropFirst().first.flatMap(Int.init) ?? 18490
let answer = ByteBuffer(string: #"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"ok"}]}}"#)
var logger = Logger(label: "fjmcp-floor")
logger.logLevel = .warning

let router = Router()
router.post("/mcp") { request, context -> Response in
    _ = try await request.body.collect(upTo: 1 << 20)
    return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: answer))
}
let app = Application(
    router: router,
    configuration: .init(address: .hostname("127.0.0.1", port: port), serverName: nil),
    onServerRunning: { _ in print("fjmcp-floor listening on 127.0.0.1:\(port)") },
    logger: logger
)
try await app.runService()
