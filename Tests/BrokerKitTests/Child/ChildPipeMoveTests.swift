import NIOCore
import NIOPosix
import XCTest

@testable import BrokerKit

/// A child's pipes follow the event loop their writes come from (`ChildPipeMovePolicy`), losing,
/// duplicating and splitting nothing on the way.
final class ChildPipeMoveTests: XCTestCase {
    private let elsewhere = MultiThreadedEventLoopGroup(numberOfThreads: 1)

    override func tearDown() async throws {
        try await elsewhere.shutdownGracefully()
    }

    private func start(_ spec: ChildSpec, streak: Int) async throws -> (ChildProcess, LineCollector) {
        let child = ChildProcess(spec: spec, sessionID: "s-move", logger: LogCapture().logger,
                                 pipeMoves: ChildPipeMovePolicy(streak: streak, interval: .zero))
        let lines = LineCollector()
        _ = try await child.start { lines.append($0) }
        return (child, lines)
    }

    private func pipes(of child: ChildProcess, areOn loop: any EventLoop) async -> Bool {
        await child.stdinLoop === loop
    }

    private func loop(of child: ChildProcess) async throws -> any EventLoop {
        let loop = await child.stdinLoop
        return try XCTUnwrap(loop)
    }

    private func answer(_ id: Int, in lines: LineCollector) async -> String? {
        await lines.line(containing: #""id":\#(id),"#)
    }

    private func echo(_ id: Int) -> [UInt8] {
        toolCallLine(id: "\(id)", tool: "echo", arguments: #"{"text":"m\#(id)"}"#)
    }

    func testPipesMoveAfterAStreakOfWritesFromAnotherLoopAndBack() async throws {
        let (child, lines) = try await start(DemoBinary.spec(), streak: 3)
        let there = elsewhere.next()
        let home = try await loop(of: child)
        try await child.send(initializeLine(), from: there)
        try await child.send(echo(2), from: there)
        var moved = await pipes(of: child, areOn: there)
        XCTAssertFalse(moved, "two writes in a row are not a streak of three")
        try await child.send(echo(3), from: there)
        moved = await pipes(of: child, areOn: there)
        XCTAssertTrue(moved)
        for id in 4...6 { try await child.send(echo(id), from: home) }
        let back = await pipes(of: child, areOn: home)
        XCTAssertTrue(back)
        for id in 1...6 {
            let reply = await answer(id, in: lines)
            XCTAssertNotNil(reply, "answer \(id)")
        }
        let exit = await child.stop()
        XCTAssertEqual(exit.status, .exited(0), "stdin EOF reaches the child through the moved pipe")
    }

    func testWritesFromTheirOwnLoopOrNoLoopMoveNothing() async throws {
        let (child, lines) = try await start(DemoBinary.spec(), streak: 1)
        let home = try await loop(of: child)
        try await child.send(initializeLine(), from: home)
        try await child.send(echo(2), from: nil)
        let stayed = await pipes(of: child, areOn: home)
        XCTAssertTrue(stayed)
        let reply = await answer(2, in: lines)
        XCTAssertNotNil(reply)
        await child.stop()
    }

    func testEveryAnswerArrivesOnceWhileThePipesMoveBackAndForth() async throws {
        let (child, lines) = try await start(DemoBinary.spec(), streak: 1)
        let loops: [any EventLoop] = [elsewhere.next(), try await loop(of: child)]
        try await child.send(initializeLine(), from: loops[0])
        let count = 200
        for id in 2...count { try await child.send(echo(id), from: loops[id % 2]) }
        let all = await eventually { lines.lines.count >= count }
        XCTAssertTrue(all)
        let ids = lines.strings.compactMap { line in
            line.firstRange(of: #""id":"#).map { Int(line[$0.upperBound...].prefix { $0.isNumber }) ?? -1 }
        }
        XCTAssertEqual(ids.sorted(), Array(1...count), "each answer exactly once, none cut")
        await child.stop()
    }

    func testALongLineReadAcrossAMoveArrivesWhole() async throws {
        let (child, lines) = try await start(
            DemoBinary.spec(["--no-forgejo-check", "--oversized-line", "300000"]), streak: 1)
        let loops: [any EventLoop] = [elsewhere.next(), try await loop(of: child)]
        try await child.send(initializeLine(), from: loops[0])
        for id in 2...40 { try await child.send(echo(id), from: loops[id % 2]) }
        let big = await lines.line(containing: "notifications/message")
        XCTAssertEqual(big?.utf8.count, 300_000)
        let last = await answer(40, in: lines)
        XCTAssertNotNil(last)
        await child.stop()
    }
}
