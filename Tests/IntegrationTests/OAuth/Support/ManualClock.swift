import BrokerKit
import Foundation
import Synchronization

/// A clock tests move by hand, to expire codes, tokens and grace windows without sleeping.
final class ManualClock: Sendable {
    private let current: Mutex<Date>

    init(_ start: Date = Date()) { current = Mutex(start) }

    var now: Date { current.withLock { $0 } }

    func advance(seconds: TimeInterval) { current.withLock { $0.addTimeInterval(seconds) } }

    var oauthClock: OAuthClock { OAuthClock { self.now } }
}
