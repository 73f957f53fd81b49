import Foundation

/// Entry point: mirrors forgejo-mcp's start-up (configuration, Forgejo probe, then stdio)
/// so the broker's failure handling is exercised the same way.
let options: DemoOptions
do {
    options = try DemoOptions.parse(
        arguments: Array(CommandLine.arguments.dropFirst()), environment: ProcessInfo.processInfo.environment)
} catch {
    logError("\(error)")
    exit(2)
}

if options.ignoreSigterm {
    signal(SIGTERM, SIG_IGN)
}
if options.leakTokenToStderr {
    logError("debug: using Authorization: token \(options.token ?? "")")
}
if options.noisyStderr {
    for index in 1...200 { logError("noisy start-up line \(index)") }
}

var forgejo: ForgejoAPI?
if !options.noForgejoCheck {
    guard let url = options.url, let api = ForgejoAPI(url: url, token: options.token) else {
        logError("FORGEJO_URL (or --url) must be an http(s) URL")
        exit(1)
    }
    do {
        _ = try await api.version()
    } catch {
        logError("connection test failed: \(error)")
        exit(1)
    }
    forgejo = api
}

if options.slowStartMilliseconds > 0 {
    try? await Task.sleep(for: .milliseconds(options.slowStartMilliseconds))
}

let server = DemoServer(options: options, forgejo: forgejo)
let (lines, linesContinuation) = AsyncStream<String>.makeStream()
/// `--serial`: the reader waits for each message to be handled before it reads the next line.
let handled = DispatchSemaphore(value: 0)
/// stdin is read on a dedicated thread because blocking reads must not occupy the cooperative pool.
let reader = Thread {
    while let line = readLine(strippingNewline: true) {
        guard !line.isEmpty else { continue }
        linesContinuation.yield(line)
        if options.serial { handled.wait() }
    }
    linesContinuation.finish()
}
reader.start()
for await line in lines {
    await server.receive(line)
    if options.serial {
        await server.drain()
        handled.signal()
    }
}
await server.drain()
exit(0)
