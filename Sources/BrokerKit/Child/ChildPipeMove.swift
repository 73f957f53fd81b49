import NIOCore
import NIOPosix
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Moving a running child's stdin and stdout to the event loop of the connection that calls it.
///
/// A child's pipes are NIO channels on one event loop, and an HTTP connection is on one too. When
/// they differ, every call pays two cross-thread wake-ups: the handler's stdin write is handed to
/// the pipes' loop, and the child's answer, read there, is handed back to the connection's loop
/// (perf at 1 concurrent: 4.7 context switches per call against 2.2 on one loop, +0.1 ms p50).
/// Which loop a client's connection lands on is chance (accepted connections go round-robin), so
/// instead of guessing at spawn time the pipes follow the calls: after `streak` writes in a row from
/// one other loop, the stdin and stdout channels are replaced by channels on that loop over
/// duplicates of the same descriptors. A NIO channel cannot change loops, but a pipe does not care
/// which descriptor reads or writes it.
///
/// Order is kept: the old stdin channel is only replaced once none of its writes is pending, and
/// the new stdout channel is opened only after the old one is closed on its loop and every chunk it
/// read has been consumed. Connections on several loops sharing one child (many clients of a user
/// child, or one client's pool) rarely make a streak, and moves are at most one per `interval`.
struct ChildPipeMovePolicy: Sendable {
    /// Writes in a row from one other event loop before the pipes move there.
    var streak = 16
    /// At most one move per child in this time, so clients on several loops cannot make it thrash.
    var interval: Duration = .seconds(1)

    static let standard = ChildPipeMovePolicy()
}

/// The child's stdout as the runner reads it: its current channel and, once a move is asked for,
/// the duplicate descriptor and loop the next channel is opened on. Shared by the runner (which
/// reads) and `ChildProcess` (which asks for moves).
final class ChildStdout: Sendable {
    /// A stdout channel: its `ChildStdoutHandler` hands on what it reads; the runner only
    /// waits for its close.
    typealias Reader = any Channel

    private struct State {
        var channel: Reader
        var descriptor: CInt
        var next: (descriptor: CInt, loop: any EventLoop)?
        var ended = false
    }

    /// The channel the child was started with; `next()` gives the ones after a move.
    let first: Reader
    private let state: Mutex<State>

    /// Where every channel's lines go, carried from one channel to the next.
    private let lines: ChildStdoutLines

    init(_ channel: Reader, descriptor: CInt, lines: ChildStdoutLines) {
        first = channel
        self.lines = lines
        state = Mutex(State(channel: channel, descriptor: descriptor))
    }

    /// Asks the reader to go on on `loop`: on the current channel's loop (where NIO would close
    /// the descriptor, so it is still the channel's while it is active), the descriptor is
    /// duplicated for the next channel and the current one closed; the reader opens the next
    /// channel once it has consumed everything the old one read. Nothing happens once the reader
    /// has ended or while a move is pending.
    func move(to loop: any EventLoop) {
        let current: (Reader, CInt)? = state.withLock { state in
            state.ended || state.next != nil ? nil : (state.channel, state.descriptor)
        }
        guard let (channel, descriptor) = current else { return }
        channel.eventLoop.execute { [self] in
            guard channel.isActive else { return }
            let copy = fcntl(descriptor, F_DUPFD_CLOEXEC, 0)
            guard copy >= 0 else { return }
            let stored = state.withLock { state in
                guard !state.ended, state.next == nil, state.descriptor == descriptor else { return false }
                state.next = (copy, loop)
                return true
            }
            if stored {
                channel.close(promise: nil)
            } else {
                close(copy)
            }
        }
    }

    /// Called by the reader when its current channel has ended: the next channel to read, on the
    /// loop a move asked for, or nil when the child's stdout has really ended (no move pending).
    func next() async -> Reader? {
        let next = state.withLock { state -> (descriptor: CInt, loop: any EventLoop)? in
            guard let next = state.next else {
                state.ended = true
                return nil
            }
            return next
        }
        guard let next else { return nil }
        do {
            let channel = try await ChildPipes.reader(next.descriptor, group: next.loop, lines: lines)
            state.withLock { state in
                state.channel = channel
                state.descriptor = next.descriptor
                state.next = nil
            }
            return channel
        } catch {
            // NIO has closed the descriptor or handed it back unused; either way the output is lost.
            state.withLock { state in
                state.next = nil
                state.ended = true
            }
            return nil
        }
    }

    /// Marks the reader done (e.g. after a line over the limit), so no move starts any more.
    func end() {
        let pending = state.withLock { state -> CInt? in
            state.ended = true
            defer { state.next = nil }
            return state.next?.descriptor
        }
        if let pending { close(pending) }
    }
}

/// The child's stdin as `ChildProcess` writes it: the channel and the descriptor it owns.
struct ChildStdin: Sendable {
    let channel: any Channel
    let descriptor: CInt

    /// A channel on `loop` over a duplicate of this descriptor, made on this channel's loop (while
    /// it is active the descriptor is still its own); nil when this channel is already closed.
    func duplicate(on loop: any EventLoop) async -> ChildStdin? {
        let channel = self.channel
        let descriptor = self.descriptor
        let copy = try? await channel.eventLoop.submit { () -> CInt in
            channel.isActive ? fcntl(descriptor, F_DUPFD_CLOEXEC, 0) : -1
        }.get()
        guard let copy, copy >= 0 else { return nil }
        guard let moved = try? await NIOPipeBootstrap(group: loop).takingOwnershipOfDescriptor(output: copy).get() else {
            return nil
        }
        return ChildStdin(channel: moved, descriptor: copy)
    }
}
