import Foundation

/// Which change notifications a listener wants (a 2026-07-28 `SubscriptionFilter`), or what the
/// broker honours of it: only what the user's child can actually announce.
public struct ListenFilter: Sendable, Equatable {
    package init() {}

    package var toolsListChanged = false
    package var promptsListChanged = false
    package var resourcesListChanged = false
    package var resourceSubscriptions: [String] = []

    /// The `notifications` object of the acknowledgement: honoured types only.
    package var json: [String: Any] {
        var object: [String: Any] = [:]
        if toolsListChanged { object["toolsListChanged"] = true }
        if promptsListChanged { object["promptsListChanged"] = true }
        if resourcesListChanged { object["resourcesListChanged"] = true }
        if !resourceSubscriptions.isEmpty { object["resourceSubscriptions"] = resourceSubscriptions }
        return object
    }

    package func wants(_ notification: String, uri: String?) -> Bool {
        switch notification {
        case "notifications/tools/list_changed": return toolsListChanged
        case "notifications/prompts/list_changed": return promptsListChanged
        case "notifications/resources/list_changed": return resourcesListChanged
        case "notifications/resources/updated":
            // The spec allows an update of a sub-resource of the subscribed URI.
            guard let uri else { return false }
            return resourceSubscriptions.contains { uri == $0 || uri.hasPrefix($0.hasSuffix("/") ? $0 : $0 + "/") }
        default: return false
        }
    }
}
