/// The initialize-based MCP versions this endpoint serves, and the per-version rules that
/// differ on HTTP (batching, the `MCP-Protocol-Version` header).
public enum MCPProtocolVersion {
    /// What a client may name in `MCP-Protocol-Version` on a legacy session.
    public static let supported: Set<String> = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"]

    /// JSON-RPC batches exist only up to 2025-03-26 (removed in 2025-06-18).
    public static func allowsBatches(_ version: String) -> Bool {
        version == "2025-03-26" || version == "2024-11-05"
    }
}
