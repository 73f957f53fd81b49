/// A bounded map that, when full, forgets its least recently used entry: one at a time, never
/// everything at once. Every operation is O(1): a dictionary into a doubly linked list kept in
/// arrays (no per-entry allocation).
struct LRUCache<Key: Hashable, Value> {
    private struct Node {
        var key: Key
        var value: Value
        var newer: Int?
        var older: Int?
    }

    let capacity: Int
    private var index: [Key: Int] = [:]
    private var nodes: [Node] = []
    private var free: [Int] = []
    private var newest: Int?
    private var oldest: Int?

    init(capacity: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
    }

    var count: Int { index.count }

    /// The value, marking the entry as just used.
    mutating func value(forKey key: Key) -> Value? {
        guard let slot = index[key] else { return nil }
        moveToNewest(slot)
        return nodes[slot].value
    }

    /// Stores `value` as the newest entry; returns the key evicted to make room, if any.
    @discardableResult
    mutating func set(_ value: Value, forKey key: Key) -> Key? {
        if let slot = index[key] {
            nodes[slot].value = value
            moveToNewest(slot)
            return nil
        }
        var evicted: Key?
        if index.count >= capacity, let oldest {
            evicted = nodes[oldest].key
            remove(slot: oldest)
        }
        let node = Node(key: key, value: value, newer: nil, older: newest)
        let slot: Int
        if let reused = free.popLast() {
            nodes[reused] = node
            slot = reused
        } else {
            nodes.append(node)
            slot = nodes.count - 1
        }
        if let newest { nodes[newest].newer = slot }
        newest = slot
        if oldest == nil { oldest = slot }
        index[key] = slot
        return evicted
    }

    mutating func removeValue(forKey key: Key) {
        guard let slot = index[key] else { return }
        remove(slot: slot)
    }

    private mutating func remove(slot: Int) {
        unlink(slot)
        index[nodes[slot].key] = nil
        free.append(slot)
    }

    private mutating func moveToNewest(_ slot: Int) {
        guard newest != slot else { return }
        unlink(slot)
        nodes[slot].older = newest
        nodes[slot].newer = nil
        if let newest { nodes[newest].newer = slot }
        newest = slot
        if oldest == nil { oldest = slot }
    }

    private mutating func unlink(_ slot: Int) {
        let (newer, older) = (nodes[slot].newer, nodes[slot].older)
        if let newer { nodes[newer].older = older } else { newest = older }
        if let older { nodes[older].newer = newer } else { oldest = newer }
        nodes[slot].newer = nil
        nodes[slot].older = nil
    }
}
