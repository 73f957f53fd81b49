import Foundation

/// What a tool's `annotations` say about whether it only reads, as the `FJMCP_READ_ONLY` preset
/// needs it.
public enum ToolSafety: Sendable, Equatable {
    /// `readOnlyHint: true`.
    case readOnly
    /// Annotations that mean something and do not say read-only.
    case notReadOnly
    /// No annotations, or ones that carry no information (see ``classify(annotations:)``).
    case unannotated

    /// Reads a tool's `annotations` member (a decoded JSON value, nil when absent).
    ///
    /// mcp-go's `NewTool` (the SDK forgejo-mcp is built on) seeds every tool with
    /// `readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true`
    /// and always serializes them; forgejo-mcp v2.34.1 sets no annotation on any of its 141
    /// tools. Those exact seeded values are therefore what "not annotated" looks like from an
    /// mcp-go server, and count as unannotated: otherwise the preset would refuse every
    /// forgejo-mcp tool. Any other annotation object is taken at its word.
    public static func classify(annotations: Any?) -> ToolSafety {
        guard let object = annotations as? [String: Any], !object.isEmpty else { return .unannotated }
        if flag(object["readOnlyHint"]) == true { return .readOnly }
        let seeded = flag(object["readOnlyHint"]) == false && flag(object["destructiveHint"]) == true
            && flag(object["idempotentHint"]) == false && flag(object["openWorldHint"]) == true
            && ((object["title"] as? String) ?? "").isEmpty && object.count <= 5
        return seeded ? .unannotated : .notReadOnly
    }

    /// A JSON boolean. Foundation decodes booleans as NSNumbers of ObjC type `c`; a number
    /// 0 or 1 is not a boolean here.
    private static func flag(_ value: Any?) -> Bool? {
        guard let number = value as? NSNumber, String(cString: number.objCType) == "c" else { return nil }
        return number.boolValue
    }

    /// forgejo-mcp's read-only tools by name, for tools without annotations: every tool of
    /// v2.34.1 whose name starts with one of these only reads (`get_`, `list_`, `search_`,
    /// `download_` attachments, `check_notifications`, `check_org_membership`); every writing
    /// tool starts with another verb (`create_`, `edit_`, `update_`, `delete_`, `merge_`, …).
    public static let readOnlyNamePatterns: [ToolNamePattern] = ["get_*", "list_*", "search_*", "download_*", "check_*"]
        .compactMap { try? ToolNamePattern($0) }
}
